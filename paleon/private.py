"""Files only this user may read: the data directory 0700, the files in it 0600."""

import os
from pathlib import Path


def private_dir(path: Path) -> Path:
    """`path` made if missing, and made 0700 when this user owns it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_uid == os.getuid():
        path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """`path` made empty if missing (in a private directory), and made 0600."""
    private_dir(path.parent)
    path.touch(mode=0o600, exist_ok=True)
    if path.stat().st_uid == os.getuid():
        path.chmod(0o600)
    return path
