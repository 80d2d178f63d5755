"""Corrections from users, reviewed into the reference collection."""
