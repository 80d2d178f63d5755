"""The authentication side of a replica: its stores and verifiers, built once from settings,
and the dependency that hands them to a route (`app.state.auth`)."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis

from auth.identity_store import IdentityStore
from auth.key_store import KeyStore
from auth.principal import Principal
from auth.principal_cache import PrincipalCache
from auth.sessions import Sessions
from auth.store import UserStore, make_engine
from auth.supabase import SupabaseVerifier
from auth.throttle import LoginThrottle, RegistrationThrottle
from auth.webhook_secrets import WebhookSecretStore
from configs import Settings


@dataclass(frozen=True)
class AuthServices:
    settings: Settings
    users: UserStore
    keys: KeyStore
    identities: IdentityStore
    webhook_secrets: WebhookSecretStore
    sessions: Sessions
    login_throttle: LoginThrottle
    registration_throttle: RegistrationThrottle
    supabase: SupabaseVerifier | None  # None: Google sign-in is not configured
    # Checked credentials → their Principal (auth/deps.py), for a few seconds.
    principals: PrincipalCache[Principal]

    @classmethod
    def build(cls, settings: Settings, redis: Redis) -> "AuthServices":
        settings.check_signing_secrets()
        engine = make_engine(settings.sql_url)
        return cls(
            settings=settings,
            users=UserStore(engine),
            keys=KeyStore(engine),
            identities=IdentityStore(engine),
            webhook_secrets=WebhookSecretStore(engine),
            sessions=Sessions(redis, settings.refresh_ttl_s),
            login_throttle=LoginThrottle(redis, settings.login),
            registration_throttle=RegistrationThrottle(redis, settings.login),
            supabase=SupabaseVerifier.from_settings(settings.supabase),
            principals=PrincipalCache(settings.principal_cache_s),
        )


async def auth_services(request: Request) -> AuthServices:  # async: no thread hop
    services: AuthServices = request.app.state.auth
    return services


AuthDep = Annotated[AuthServices, Depends(auth_services)]
