"""The user store: SQLAlchemy 2.x over SQLite (default) or PostgreSQL/Supabase."""

from pathlib import Path

from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from auth.migrate import migrate
from auth.models import ROLES, TIERS, User
from paleon.errors import InvalidRequest
from paleon.private import private_file


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        private_file(Path(parsed.database))  # accounts and hashes: 0600 in a 0700 folder
        return create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
    # hide_parameters: a failed statement's error (logged) must not carry hashes or emails.
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


class UserStore:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)
        migrate(engine)

    def create(self, *, email: str, username: str, password_hash: str | None,
               provider: str = "email") -> User:
        user = User(email=email.lower(), username=username, password_hash=password_hash,
                    provider=provider)
        with self._session() as session:
            if self._taken(session, email=email, username=username):
                raise InvalidRequest("That email or username is already registered.")
            session.add(user)
            try:
                session.commit()
            except IntegrityError:  # lost a race with a concurrent registration
                raise InvalidRequest("That email or username is already registered.") from None
        return user

    def taken(self, *, email: str, username: str) -> bool:
        with self._session() as session:
            return self._taken(session, email=email, username=username)

    @staticmethod
    def _taken(session: Session, *, email: str, username: str) -> bool:
        query = select(User.id).where(
            (User.email == email.lower()) | (func.lower(User.username) == username.lower())
        )
        return session.scalar(query.limit(1)) is not None

    def by_email(self, email: str) -> User | None:
        with self._session() as session:
            return session.scalar(select(User).where(User.email == email.lower()))

    def by_id(self, user_id: str) -> User | None:
        with self._session() as session:
            return session.get(User, user_id)

    def set_tier(self, email: str, tier: str) -> User:
        if tier not in TIERS:
            raise InvalidRequest(f"Unknown tier {tier!r}; one of {', '.join(TIERS)}.")
        return self._update(email, tier=tier)

    def set_role(self, email: str, role: str) -> User:
        if role not in ROLES:
            raise InvalidRequest(f"Unknown role {role!r}; one of {', '.join(ROLES)}.")
        return self._update(email, role=role)

    def _update(self, email: str, **fields: str) -> User:
        with self._session() as session:
            user = session.scalar(select(User).where(User.email == email.lower()))
            if user is None:
                raise InvalidRequest(f"No user with email {email!r}.")
            for name, value in fields.items():
                setattr(user, name, value)
            session.commit()
            return user

    def all(self) -> list[User]:
        with self._session() as session:
            return list(session.scalars(select(User).order_by(User.created_at)))

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
