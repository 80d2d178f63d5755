"""Sign-in through Supabase: find, link or create the user behind an outside identity.

Linking policy: an identity seen before signs in to its user. A new identity creates the
account of its email, or links to a passwordless one, only when its provider verified that
email for it; otherwise anyone could claim an account by registering its email elsewhere.
It never links silently to an account with a password (409 `account_exists`): the owner
signs in with the password and links it (`POST /auth/oauth/link`).
"""

import re
import secrets
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from auth.models import Identity, User
from auth.supabase import SupabaseIdentity
from paleon.errors import Conflict, Forbidden

PROVIDER = "supabase"


class IdentityStore:
    def __init__(self, engine: Engine):
        self._session = sessionmaker(engine, expire_on_commit=False)

    def sign_in(self, who: SupabaseIdentity) -> User:
        try:
            return self._sign_in(who)
        except IntegrityError:  # a concurrent first sign-in won: it is found this time
            return self._sign_in(who)

    def _sign_in(self, who: SupabaseIdentity) -> User:
        with self._session() as session:
            identity = session.scalar(select(Identity).where(
                Identity.provider == PROVIDER, Identity.subject == who.subject))
            if identity is not None:
                identity.display_name = who.display_name or identity.display_name
                identity.avatar_url = who.avatar_url or identity.avatar_url
                identity.updated_at = datetime.now(UTC)
                session.commit()
                user = session.get(User, identity.user_id)
                if user is None:  # the foreign key keeps this from happening
                    raise RuntimeError(f"identity {identity.id} names a missing user")
                return user
            if not who.email_verified:
                # Neither link nor create: an unverified first sign-in could otherwise hold
                # an account for someone else's email, ready for the owner to walk into.
                raise Forbidden(
                    "The sign-in provider has not verified this email, so Paleon can't link "
                    "or create an account for it. Verify the email, or register with a "
                    "password."
                )
            user = session.scalar(select(User).where(User.email == who.email.lower()))
            if user is not None and user.password_hash is not None:
                raise Conflict(
                    "An account with this email already exists and has a password. Sign in "
                    "with the password, then link Google sign-in to it: POST "
                    "/auth/oauth/link with the Google sign-in's Supabase access token.",
                    code="account_exists")
            if user is None:
                user = User(email=who.email.lower(), username=_free_username(session, who.email),
                            password_hash=None, provider=who.method)
                session.add(user)
                session.flush()
            session.add(Identity(user_id=user.id, provider=PROVIDER, subject=who.subject,
                                 method=who.method, display_name=who.display_name,
                                 avatar_url=who.avatar_url))
            session.commit()
            return user

    def link(self, user_id: str, who: SupabaseIdentity) -> None:
        """Link this identity to a signed-in user (who proved both); again for the same user
        changes nothing, for another user is a 409."""
        with self._session() as session:
            identity = session.scalar(select(Identity).where(
                Identity.provider == PROVIDER, Identity.subject == who.subject))
            if identity is not None:
                if identity.user_id != user_id:
                    raise Conflict("This Google sign-in is already linked to another Paleon "
                                   "account.", code="identity_taken")
                return
            session.add(Identity(user_id=user_id, provider=PROVIDER, subject=who.subject,
                                 method=who.method, display_name=who.display_name,
                                 avatar_url=who.avatar_url))
            try:
                session.commit()
            except IntegrityError:  # a concurrent link of the same identity
                raise Conflict("This Google sign-in is already linked.",
                               code="identity_taken") from None

    def profile(self, user_id: str) -> Identity | None:
        with self._session() as session:
            query = select(Identity).where(Identity.user_id == user_id)
            return session.scalar(query.order_by(Identity.updated_at.desc()).limit(1))


def _free_username(session: Session, email: str) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]", "", email.split("@")[0])[:24] or "user"
    base = base if len(base) >= 3 else f"{base}-user"
    candidate = base
    while session.scalar(select(User.id).where(func.lower(User.username) == candidate.lower())):
        candidate = f"{base}-{secrets.token_hex(2)}"
    return candidate
