"""The replica's long-lived services, installed by the Ingress and read by route dependencies.

Serve serves its own copy of the FastAPI app, so `request.app.state` is not the place for
them; one Ingress replica runs per process, so a process-wide slot is exact.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends

from paleon.errors import ServiceUnavailable


@dataclass
class Services:
    settings: Any  # configs.Settings
    upload_limits: Any  # jobs.uploads.UploadLimits
    users: Any  # auth.store.UserStore
    keys: Any  # auth.key_store.KeyStore
    jobs: Any  # jobs.store.JobStore
    quota: Any  # jobs.quota.Quota
    login_throttle: Any  # auth.throttle.LoginThrottle
    sessions: Any  # auth.sessions.Sessions
    identities: Any  # auth.identity_store.IdentityStore
    supabase: Any  # auth.supabase.SupabaseVerifier, or None when not configured
    launch: Callable[[str, int], None]
    health_checks: Callable[[], Awaitable[dict[str, str]]]
    knowledge_search: Callable[[str, int], Awaitable[list[dict]]]


_current: Services | None = None


def install(services: Services | None) -> None:
    global _current
    _current = services


def current() -> Services:
    if _current is None:
        raise ServiceUnavailable("The service is starting; try again in a few seconds.")
    return _current


ServicesDep = Annotated[Services, Depends(current)]
