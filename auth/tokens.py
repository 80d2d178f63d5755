"""Backend access tokens: HS256 JWTs with sub, iat, exp."""

import time

import jwt

from paleon.errors import InvalidCredentials

ALGORITHM = "HS256"
ISSUER = "paleon"


def issue(user_id: str, secret: str, ttl_s: int) -> str:
    now = int(time.time())
    claims = {"sub": user_id, "iat": now, "exp": now + ttl_s, "iss": ISSUER, "typ": "access"}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify(token: str, secret: str) -> str:
    """The user id a valid token names; InvalidCredentials for anything else."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["sub", "iat", "exp", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidCredentials("Access token expired; log in again.") from None
    except jwt.PyJWTError:
        raise InvalidCredentials("Invalid access token.") from None
    if claims.get("typ") != "access" or not isinstance(claims["sub"], str):
        raise InvalidCredentials("Invalid access token.")
    return claims["sub"]
