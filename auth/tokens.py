"""Backend access tokens: HS256 JWTs with sub, iat, exp."""

import time
import uuid
from dataclasses import dataclass

import jwt

from paleon.errors import InvalidCredentials

ALGORITHM = "HS256"
ISSUER = "paleon"


@dataclass(frozen=True)
class Access:
    user_id: str
    jti: str
    expires_at: int


def issue(user_id: str, secret: str, ttl_s: int) -> str:
    now = int(time.time())
    claims = {"sub": user_id, "iat": now, "exp": now + ttl_s, "iss": ISSUER, "typ": "access",
              "jti": uuid.uuid4().hex}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify(token: str, secret: str) -> str:
    """The user id a valid token names; InvalidCredentials for anything else."""
    return decode(token, secret).user_id


def decode(token: str, secret: str) -> Access:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["sub", "iat", "exp", "iss", "jti"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidCredentials("Access token expired; log in again.") from None
    except jwt.PyJWTError:
        raise InvalidCredentials("Invalid access token.") from None
    if claims.get("typ") != "access" or not isinstance(claims["sub"], str):
        raise InvalidCredentials("Invalid access token.")
    return Access(user_id=claims["sub"], jti=str(claims["jti"]), expires_at=int(claims["exp"]))
