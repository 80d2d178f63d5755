"""FastAPI dependencies: who is calling."""

import asyncio
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from auth import tokens
from auth.models import User
from paleon.context import ServicesDep
from paleon.errors import InvalidCredentials

_bearer = HTTPBearer(auto_error=False)


async def current_user(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise InvalidCredentials("Send `Authorization: Bearer <access_token>`.")
    secret = services.settings.jwt_secret.get_secret_value()
    user_id = tokens.verify(credentials.credentials, secret)
    user = await asyncio.to_thread(services.users.by_id, user_id)
    if user is None:
        raise InvalidCredentials("Invalid access token.")
    return user


CurrentUser = Annotated[User, Depends(current_user)]
