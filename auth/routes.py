"""/auth routes: register, login, me."""

import asyncio
from functools import partial

from fastapi import APIRouter, Request

from auth import passwords, tokens
from auth.deps import CurrentUser
from auth.models import User
from auth.schemas import LoginRequest, RegisterRequest, TokenResponse, UserResponse
from paleon.context import Services, ServicesDep
from paleon.errors import InvalidCredentials

router = APIRouter(prefix="/auth", tags=["auth"])


def _token_response(services: Services, user: User) -> TokenResponse:
    settings = services.settings
    token = tokens.issue(user.id, settings.jwt_secret.get_secret_value(), settings.jwt_ttl_s)
    return TokenResponse(
        access_token=token, expires_in=settings.jwt_ttl_s, user=UserResponse.model_validate(user)
    )


@router.post("/register", status_code=201, response_model=TokenResponse)
async def register(body: RegisterRequest, services: ServicesDep) -> TokenResponse:
    passwords.check_policy(body.password, email=body.email, username=body.username)
    hashed = await asyncio.to_thread(passwords.hash_password, body.password)
    user = await asyncio.to_thread(
        partial(services.users.create, email=body.email, username=body.username,
                password_hash=hashed)
    )
    return _token_response(services, user)


@router.post("/login", response_model=TokenResponse)
async def login(body: LoginRequest, request: Request, services: ServicesDep) -> TokenResponse:
    address = request.client.host if request.client else "unknown"
    await services.login_throttle.check(body.email, address)
    user = await asyncio.to_thread(services.users.by_email, body.email)
    stored = user.password_hash if user else None
    if not await asyncio.to_thread(passwords.verify_password, body.password, stored):
        await services.login_throttle.failed(body.email, address)
        raise InvalidCredentials("Incorrect email or password.")
    await services.login_throttle.succeeded(body.email)
    return _token_response(services, user)


@router.get("/me", response_model=UserResponse)
async def me(user: CurrentUser) -> User:
    return user
