"""Who is calling: a typed principal, by access token or by API key."""

import asyncio
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPBearer

from auth import api_keys, tokens
from auth.models import REVIEWERS, User
from auth.principal import Method, Principal
from auth.services import AuthDep, AuthServices
from paleon.errors import Forbidden, InvalidCredentials

# Declared for the OpenAPI schema; the header parsing below is ours.
_bearer = HTTPBearer(auto_error=False, description="Access token, or an API key")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")

HOW = ("Send `Authorization: Bearer <access_token>`, `Authorization: ApiKey <key>` or "
       "`X-API-Key: <key>`.")

def _credentials(request: Request) -> tuple[Method, str]:
    authorization = request.headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return ("api_key" if value.startswith(api_keys.PREFIX) else "jwt"), value
    if scheme.lower() == "apikey" and value:
        return "api_key", value
    if header := request.headers.get("x-api-key", "").strip():
        return "api_key", header
    raise InvalidCredentials(HOW)


async def _user_for_key(services: AuthServices, key: str) -> User:
    if not api_keys.well_formed(key):
        raise InvalidCredentials("Invalid API key.")
    digest = api_keys.digest(key, services.settings.api_key_pepper.get_secret_value())
    user = await asyncio.to_thread(services.keys.owner, digest)
    if user is None:
        raise InvalidCredentials("Invalid or revoked API key.")
    return user


async def _check(request: Request, services: AuthServices) -> Principal:
    method, secret = _credentials(request)
    remembered = services.principals.get(secret)
    if remembered is not None:
        return remembered
    checked_at = services.principals.generation
    if method == "api_key":
        principal = Principal(await _user_for_key(services, secret), method)
        services.principals.put(secret, principal.user.id, principal, checked_at=checked_at)
        return principal
    access = tokens.decode(secret, services.settings.jwt_secret.get_secret_value())
    if await services.sessions.access_revoked(access.jti):
        raise InvalidCredentials("This access token was revoked (logged out).")
    user = await asyncio.to_thread(services.users.by_id, access.user_id)
    if user is None:
        raise InvalidCredentials("Invalid access token.")
    principal = Principal(user, method, access)
    services.principals.put(secret, user.id, principal, checked_at=checked_at,
                            not_after=access.expires_at)
    return principal


async def identify(request: Request, services: AuthServices) -> Principal:
    """The caller, fully checked. A request is checked once: middleware that authenticates
    before an upload's body (deployments/middleware.PreAuth) leaves its answer for the
    route's dependency."""
    known = getattr(request.state, "principal", None)
    if isinstance(known, Principal):
        return known
    principal = await _check(request, services)
    request.state.principal = principal
    return principal


async def authenticate(
    request: Request,
    services: AuthDep,
    _bearer_doc: Annotated[object, Security(_bearer)],
    _key_doc: Annotated[object, Security(_api_key)],
) -> Principal:
    return await identify(request, services)


async def signed_in(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
    """Only a signed-in user, not an API key, may manage API keys (a key can't mint keys)."""
    if principal.method != "jwt":
        raise Forbidden("API keys can't manage API keys; sign in and use an access token.")
    return principal


async def reviewer(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
    """Only a reviewer or an administrator (`paleon users set-role EMAIL reviewer`)."""
    if principal.user.role not in REVIEWERS:
        raise Forbidden("Reviewing corrections needs the reviewer role.")
    return principal


Caller = Annotated[Principal, Depends(authenticate)]
SignedIn = Annotated[Principal, Depends(signed_in)]
Reviewer = Annotated[Principal, Depends(reviewer)]
