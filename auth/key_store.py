"""API keys in the SQL store, next to the users they belong to."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from auth.models import ApiKey, User
from paleon.errors import InvalidRequest

# last_used_at is rounded to this, so a busy key does not write on every request.
USE_RESOLUTION = timedelta(minutes=1)


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every stored one is UTC.
    return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment


class KeyStore:
    def __init__(self, engine: Engine):
        self._session = sessionmaker(engine, expire_on_commit=False)

    def create(self, *, user_id: str, name: str, prefix: str, key_hash: str,
               max_live: int) -> ApiKey:
        with self._session() as session:
            live = select(ApiKey).where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
            keys = list(session.scalars(live))
            if any(key.name.lower() == name.lower() for key in keys):
                raise InvalidRequest(f"You already have a key named {name!r}.")
            if len(keys) >= max_live:
                raise InvalidRequest(
                    f"You have {len(keys)} live keys, the most allowed; revoke one first."
                )
            key = ApiKey(user_id=user_id, name=name, prefix=prefix, key_hash=key_hash)
            session.add(key)
            session.commit()
            return key

    def for_user(self, user_id: str) -> list[ApiKey]:
        with self._session() as session:
            query = select(ApiKey).where(ApiKey.user_id == user_id)
            return list(session.scalars(query.order_by(ApiKey.created_at.desc())))

    def revoke(self, user_id: str, key_id: str) -> bool:
        """False when the user has no such key; revoking twice is harmless."""
        with self._session() as session:
            key = session.get(ApiKey, key_id)
            if key is None or key.user_id != user_id:
                return False
            key.revoked_at = key.revoked_at or datetime.now(UTC)
            session.commit()
            return True

    def owner(self, key_hash: str) -> User | None:
        """The user a live key belongs to; records its use. The lookup is by the key's
        HMAC digest, so timing reveals nothing about stored keys."""
        now = datetime.now(UTC)
        with self._session() as session:
            row = session.execute(
                select(ApiKey, User)
                .join(User, User.id == ApiKey.user_id)
                .where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
            ).first()
            if row is None:
                return None
            key, user = row
            last = _aware(key.last_used_at)
            if last is None or now - last >= USE_RESOLUTION:
                session.execute(update(ApiKey).where(ApiKey.id == key.id)
                                .values(last_used_at=now))
                session.commit()
            return user
