"""FastAPI dependencies: who is calling, by access token or by API key."""

import asyncio
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPBearer

from auth import api_keys, tokens
from auth.models import User
from paleon.context import Services, ServicesDep, current
from paleon.errors import Forbidden, InvalidCredentials

# Declared for the OpenAPI schema; the header parsing below is ours.
_bearer = HTTPBearer(auto_error=False, description="Access token, or an API key")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")

HOW = ("Send `Authorization: Bearer <access_token>`, `Authorization: ApiKey <key>` or "
       "`X-API-Key: <key>`.")


def _credentials(request: Request) -> tuple[str, str]:
    """("jwt" | "api_key", secret) from the request's headers."""
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


async def _user_for_key(services: Services, key: str) -> User:
    if not api_keys.well_formed(key):
        raise InvalidCredentials("Invalid API key.")
    digest = api_keys.digest(key, services.settings.api_key_pepper.get_secret_value())
    user = await asyncio.to_thread(services.keys.owner, digest)
    if user is None:
        raise InvalidCredentials("Invalid or revoked API key.")
    return user


async def identify(request: Request, services: Services) -> User:
    """The caller, fully checked; remembered on the request, so checking twice costs once."""
    state = request.scope.setdefault("state", {})
    if "paleon_user" in state:
        return state["paleon_user"]
    method, secret = _credentials(request)
    request.state.auth_method = method
    if method == "api_key":
        user = await _user_for_key(services, secret)
    else:
        access = tokens.decode(secret, services.settings.jwt_secret.get_secret_value())
        if await services.sessions.access_revoked(access.jti):
            raise InvalidCredentials("This access token was revoked (logged out).")
        request.state.access = access
        user = await asyncio.to_thread(services.users.by_id, access.user_id)
        if user is None:
            raise InvalidCredentials("Invalid access token.")
    state["paleon_user"] = user
    return user


async def precheck(request: Request) -> None:
    """For middleware ahead of an upload's body: the whole check, before a byte is read."""
    await identify(request, current())


async def authenticate(
    request: Request,
    services: ServicesDep,
    _bearer_doc: Annotated[object, Security(_bearer)],
    _key_doc: Annotated[object, Security(_api_key)],
) -> User:
    return await identify(request, services)


async def session_user(request: Request, user: Annotated[User, Depends(authenticate)]) -> User:
    """Only a signed-in user, not an API key, may manage API keys (a key can't mint keys)."""
    if request.state.auth_method != "jwt":
        raise Forbidden("API keys can't manage API keys; sign in and use an access token.")
    return user


CurrentUser = Annotated[User, Depends(authenticate)]
SessionUser = Annotated[User, Depends(session_user)]
