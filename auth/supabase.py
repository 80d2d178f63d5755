"""Verify Supabase Auth access tokens (Google sign-in).

Asymmetric tokens (ES256/RS256) are verified locally against the project's JWKS, fetched
once, cached, and fetched again when a token names an unknown key id. Legacy projects sign
with HS256, a secret we do not hold, so for those we ask GoTrue (`GET /auth/v1/user`).
"""

from dataclasses import dataclass

import httpx
import jwt
from supabase_auth import SyncGoTrueClient
from supabase_auth.errors import AuthError, AuthRetryableError

from configs import SupabaseSettings
from paleon.errors import InvalidCredentials, ServiceUnavailable

# Providers whose identities carry an email the provider itself verified. Neither
# `user_metadata.email_verified` (the user edits it) nor the user's `email_confirmed_at`
# (GoTrue confirms sign-ups itself where email autoconfirm is on, and a user may change the
# email of a Google account) says that: only the provider's identity does.
VERIFYING_PROVIDERS = frozenset({"google", "apple", "azure"})


@dataclass(frozen=True)
class SupabaseIdentity:
    subject: str
    email: str
    email_verified: bool  # by the identity provider, for this very email (see above)
    method: str  # the provider Supabase used: google, email, ...
    display_name: str | None
    avatar_url: str | None


def _identity(subject: str, email: str | None, verified: bool, app: dict,
              meta: dict) -> SupabaseIdentity:
    if not email:
        raise InvalidCredentials("The Supabase account has no email address.")
    return SupabaseIdentity(
        subject=subject, email=email, email_verified=verified,
        method=str(app.get("provider") or "supabase"),
        display_name=_text(meta.get("full_name") or meta.get("name"), 200),
        avatar_url=_text(meta.get("avatar_url") or meta.get("picture"), 1000),
    )


def _text(value: object, limit: int) -> str | None:
    # user_metadata is user-editable: anything may be there.
    return str(value)[:limit] if value else None


class SupabaseVerifier:
    def __init__(self, url: str, anon_key: str | None, algorithms: list[str],
                 refresh_cooldown_s: float = 30.0, timeout_s: float = 5.0):
        base = url.rstrip("/")
        self.issuer = f"{base}/auth/v1"
        self.algorithms = [alg for alg in algorithms if alg in ("ES256", "RS256", "EdDSA")]
        # An unknown kid forces at most one refetch per cooldown, so tokens with made-up
        # kids cannot turn us into a flood against Supabase.
        self.gotrue = (
            SyncGoTrueClient(url=self.issuer, headers={"apikey": anon_key},
                             auto_refresh_token=False, persist_session=False,
                             http_client=httpx.Client(timeout=timeout_s))
            if anon_key else None
        )
        self.jwks = jwt.PyJWKClient(f"{self.issuer}/.well-known/jwks.json", cache_keys=True,
                                    lifespan=600, timeout=int(timeout_s),
                                    cooldown_duration=refresh_cooldown_s)

    @classmethod
    def from_settings(cls, settings: SupabaseSettings) -> "SupabaseVerifier | None":
        if not settings.url:
            return None
        anon = settings.anon_key.get_secret_value() if settings.anon_key else None
        return cls(settings.url, anon, settings.jwt_algorithms,
                   settings.jwks_refresh_cooldown_s)

    def verify(self, token: str) -> SupabaseIdentity:
        """Blocking (JWKS or GoTrue over HTTP): call it from a worker thread."""
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError:
            raise InvalidCredentials("Invalid Supabase access token.") from None
        if algorithm == "HS256" and self.gotrue is not None:
            return self._ask_gotrue(token)
        if algorithm not in self.algorithms:
            raise InvalidCredentials(f"Supabase tokens signed with {algorithm!r} are refused.")
        try:
            key = self.jwks.get_signing_key_from_jwt(token)  # refetches on an unknown kid
            claims = jwt.decode(
                token, key.key, algorithms=[algorithm], audience="authenticated",
                issuer=self.issuer, options={"require": ["exp", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidCredentials("Supabase access token expired; sign in again.") from None
        except jwt.PyJWKClientConnectionError:
            raise ServiceUnavailable("Supabase Auth's signing keys could not be fetched; "
                                     "try again.") from None
        except (jwt.PyJWTError, jwt.PyJWKClientError):
            raise InvalidCredentials("Invalid Supabase access token.") from None
        app = claims.get("app_metadata") or {}
        # The token names no identities: GoTrue knows them. Without the anon key GoTrue
        # can't be asked, and the email counts as unverified (no link, no new account).
        verified = self.gotrue is not None and self._ask_gotrue(token).email_verified
        return _identity(claims["sub"], claims.get("email"), verified, app,
                         claims.get("user_metadata") or {})

    def _ask_gotrue(self, token: str) -> SupabaseIdentity:
        """Supabase's own client asks GoTrue (`GET /auth/v1/user`) whose token this is."""
        if self.gotrue is None:
            raise RuntimeError("asking GoTrue needs the project's anon key (no client made)")
        try:
            answer = self.gotrue.get_user(token)
        except AuthRetryableError:  # network errors and 5xx: Supabase is down, not the token
            raise ServiceUnavailable("Supabase Auth could not verify the token; try again.") \
                from None
        except AuthError:
            raise InvalidCredentials("Invalid Supabase access token.") from None
        except (httpx.HTTPError, ValueError):  # unreachable, or an answer we can't read
            raise ServiceUnavailable("Supabase Auth could not verify the token; try again.") \
                from None
        if answer is None or answer.user is None:
            raise InvalidCredentials("Invalid Supabase access token.")
        user = answer.user
        return _identity(str(user.id), user.email, provider_verified(user),
                         user.app_metadata or {}, user.user_metadata or {})


def provider_verified(user) -> bool:
    """Whether an identity of a verifying provider vouches for the user's email: its own
    `identity_data.email_verified`, for that very address."""
    email = (user.email or "").lower()
    return bool(email) and any(
        identity.provider in VERIFYING_PROVIDERS
        and (identity.identity_data or {}).get("email_verified") is True
        and str((identity.identity_data or {}).get("email", "")).lower() == email
        for identity in user.identities or [])
