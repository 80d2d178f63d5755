import base64
import json
import time

import jwt
import pytest

from auth import passwords, tokens
from configs import Settings
from paleon.errors import InvalidCredentials, InvalidRequest

SECRET = "s" * 48


def test_token_round_trip():
    assert tokens.verify(tokens.issue("user-1", SECRET, 60), SECRET) == "user-1"


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "token",
    [
        tokens.issue("user-1", "another-secret-of-enough-length-000000", 60),  # forged
        tokens.issue("user-1", SECRET, -10),  # expired
        _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(
            {"sub": "user-1", "iat": int(time.time()), "exp": int(time.time()) + 60,
             "iss": "paleon", "typ": "access"}) + ".",  # alg: none
        jwt.encode({"sub": "user-1", "exp": int(time.time()) + 60}, SECRET),  # missing claims
        "not-a-jwt",
        "",
    ],
)
def test_bad_tokens_are_refused(token):
    with pytest.raises(InvalidCredentials):
        tokens.verify(token, SECRET)


def test_tampered_payload_is_refused():
    header, payload, signature = tokens.issue("user-1", SECRET, 60).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "admin"
    with pytest.raises(InvalidCredentials):
        tokens.verify(f"{header}.{_b64(claims)}.{signature}", SECRET)


@pytest.mark.parametrize(
    "password,message",
    [("short1", "at least 8"), ("aaaaaaaaaaaa", "different characters"),
     ("ü" * 40, "at most 72 bytes"), ("ammonite", "differ from")],
)
def test_password_policy(password, message):
    with pytest.raises(InvalidRequest, match=message):
        passwords.check_policy(password, email="ammonite@example.com", username="ammonite")


def test_password_hashing():
    hashed = passwords.hash_password("fossil-hunter-42")
    assert hashed.startswith("$2b$")
    assert passwords.verify_password("fossil-hunter-42", hashed)
    assert not passwords.verify_password("wrong-password", hashed)
    assert not passwords.verify_password("fossil-hunter-42", None)  # unknown user
    assert not passwords.verify_password("x" * 100, hashed)  # over bcrypt's limit: no crash


@pytest.mark.parametrize("secret", ["dev-insecure-secret", "changeme", "too-short"])
def test_production_refuses_weak_jwt_secrets(secret):
    good = "k" * 32
    with pytest.raises(ValueError, match="JWT_SECRET"):
        Settings(environment="production", jwt_secret=secret,
                 api_key_pepper=good).check_signing_secrets()
    with pytest.raises(ValueError, match="API_KEY_PEPPER"):
        Settings(environment="production", jwt_secret=good,
                 api_key_pepper=secret).check_signing_secrets()
    Settings(environment="production", jwt_secret=good, api_key_pepper=good) \
        .check_signing_secrets()


def test_only_an_explicit_development_setting_signs_with_the_placeholder(monkeypatch):
    from auth.services import AuthServices

    monkeypatch.delenv("ENVIRONMENT", raising=False)
    assert Settings().environment == "production"  # serve run, serve deploy, Docker
    with pytest.raises(ValueError, match="JWT_SECRET must be set"):
        AuthServices.build(Settings(), redis=None)  # type: ignore[arg-type]
    Settings(environment="development").check_signing_secrets()
