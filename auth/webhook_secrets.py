"""Each user's webhook signing secret (Standard Webhooks), made on first use; a rotation
keeps the previous one signing for a day, so receivers can move to the new one."""

import base64
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from auth.models import WebhookSecret

PREFIX = "whsec_"
OVERLAP = timedelta(hours=24)  # both secrets sign for this long after a rotation


def generate() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every stored one is UTC.
    return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment


@dataclass(frozen=True)
class SigningSecrets:
    current: str
    previous_until: datetime | None  # the previous secret signs until then
    signing: tuple[str, ...]  # every secret that signs now, the current one first


class WebhookSecretStore:
    def __init__(self, engine: Engine):
        self._session = sessionmaker(engine, expire_on_commit=False)

    def get(self, user_id: str) -> SigningSecrets:
        """The user's secrets, the first made now if there is none yet."""
        with self._session() as session:
            row = session.get(WebhookSecret, user_id)
            if row is None:
                session.add(WebhookSecret(user_id=user_id, secret=generate()))
                try:
                    session.commit()
                except IntegrityError:  # made at the same moment by another request
                    session.rollback()
                row = session.get(WebhookSecret, user_id, populate_existing=True)
            assert row is not None
            return _signing(row)

    def rotate(self, user_id: str) -> SigningSecrets:
        self.get(user_id)
        with self._session() as session:
            row = session.get(WebhookSecret, user_id, with_for_update=True)
            assert row is not None
            row.previous, row.secret = row.secret, generate()
            row.previous_until = datetime.now(UTC) + OVERLAP
            session.commit()
            return _signing(row)


def _signing(row: WebhookSecret) -> SigningSecrets:
    until = _aware(row.previous_until)
    live = row.previous is not None and until is not None and until > datetime.now(UTC)
    return SigningSecrets(current=row.secret, previous_until=until if live else None,
                          signing=(row.secret, *([row.previous] if live and row.previous
                                                 else [])))
