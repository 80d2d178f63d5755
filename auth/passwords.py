"""Password policy and bcrypt hashing (bcrypt directly: passlib breaks on bcrypt 5)."""

import bcrypt

from paleon.errors import InvalidRequest

MIN_LENGTH = 8
MAX_BYTES = 72  # bcrypt's input limit; bcrypt 5 raises beyond it instead of truncating
# A valid hash of a random password: unknown-user logins still spend one bcrypt check.
DUMMY_HASH = bcrypt.hashpw(b"paleon-dummy-password", bcrypt.gensalt()).decode()


def check_policy(password: str, *, email: str, username: str) -> None:
    if len(password) < MIN_LENGTH:
        raise InvalidRequest(f"Password too weak: use at least {MIN_LENGTH} characters.")
    if len(password.encode()) > MAX_BYTES:
        raise InvalidRequest(f"Password too long: at most {MAX_BYTES} bytes (UTF-8).")
    if len(set(password)) < 4:
        raise InvalidRequest("Password too weak: use at least 4 different characters.")
    lowered = password.lower()
    if lowered in {email.lower(), username.lower(), email.split("@")[0].lower()}:
        raise InvalidRequest("Password too weak: it must differ from your email and username.")


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()


def verify_password(password: str, hashed: str | None) -> bool:
    candidate = password.encode()
    if len(candidate) > MAX_BYTES:
        bcrypt.checkpw(b"x", DUMMY_HASH.encode())  # same cost as a real check
        return False
    return bcrypt.checkpw(candidate, (hashed or DUMMY_HASH).encode()) and hashed is not None
