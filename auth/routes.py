"""/auth routes: register, login, me, refresh, logout, Google sign-in."""

import asyncio
from functools import partial

from fastapi import APIRouter, Request, Response

from auth import passwords, tokens
from auth.deps import Caller
from auth.models import User
from auth.schemas import (
    LinkRequest,
    LoginRequest,
    LogoutRequest,
    RefreshRequest,
    RegisterRequest,
    TokenResponse,
    UserResponse,
)
from auth.services import AuthDep, AuthServices
from paleon.errors import InvalidCredentials, InvalidRequest, ServiceUnavailable

router = APIRouter(prefix="/auth", tags=["auth"])


async def _token_response(services: AuthServices, user: User,
                          refresh_token: str | None = None) -> TokenResponse:
    settings = services.settings
    token = tokens.issue(user.id, settings.jwt_secret.get_secret_value(), settings.jwt_ttl_s)
    return TokenResponse(
        access_token=token, expires_in=settings.jwt_ttl_s,
        refresh_token=refresh_token or await services.sessions.start(user.id),
        user=await _profile(services, user),
    )


async def _profile(services: AuthServices, user: User) -> UserResponse:
    """The account, with the display name and avatar of its latest outside sign-in."""
    profile = UserResponse.model_validate(user)
    identity = await asyncio.to_thread(services.identities.profile, user.id)
    if identity is not None:
        profile.display_name, profile.avatar_url = identity.display_name, identity.avatar_url
    return profile


def client_address(request: Request) -> str:
    """The client's address as uvicorn resolved it: X-Forwarded-For counts only from the
    proxies in FORWARDED_ALLOW_IPS (README, "Client addresses")."""
    return request.client.host if request.client else "unknown"


@router.post("/register", status_code=201, response_model=TokenResponse)
async def register(body: RegisterRequest, request: Request,
                   services: AuthDep) -> TokenResponse:
    await services.registration_throttle.attempt(client_address(request))
    passwords.check_policy(body.password, email=body.email, username=body.username)
    # Both 400s (a weak password, a taken email or username) come before any hashing, so
    # they cost alike, and neither costs a bcrypt.
    if await asyncio.to_thread(services.users.taken, email=body.email,
                               username=body.username):
        raise InvalidRequest("That email or username is already registered.")
    hashed = await asyncio.to_thread(passwords.hash_password, body.password)
    user = await asyncio.to_thread(
        partial(services.users.create, email=body.email, username=body.username,
                password_hash=hashed)
    )
    return await _token_response(services, user)


@router.post("/login", response_model=TokenResponse)
async def login(body: LoginRequest, request: Request, services: AuthDep) -> TokenResponse:
    address = client_address(request)
    await services.login_throttle.attempt(body.email, address)
    user = await asyncio.to_thread(services.users.by_email, body.email)
    stored = user.password_hash if user else None
    # No user, no stored hash: verify_password is False then (after a check of equal cost).
    if not await asyncio.to_thread(passwords.verify_password, body.password, stored) \
            or user is None:
        await services.login_throttle.failed(body.email, address)
        raise InvalidCredentials("Incorrect email or password.")
    await services.login_throttle.succeeded(body.email, address)
    return await _token_response(services, user)


@router.get("/me", response_model=UserResponse)
async def me(caller: Caller, services: AuthDep) -> UserResponse:
    return await _profile(services, caller.user)


@router.post("/refresh", response_model=TokenResponse)
async def refresh(body: RefreshRequest, services: AuthDep) -> TokenResponse:
    user_id, following = await services.sessions.rotate(body.refresh_token)
    user = await asyncio.to_thread(services.users.by_id, user_id)
    if user is None:
        raise InvalidCredentials("This account no longer exists.")
    return await _token_response(services, user, refresh_token=following)


@router.post("/logout", status_code=204)
async def logout(caller: Caller, services: AuthDep,
                 body: LogoutRequest | None = None) -> Response:
    """Revoke the access token used for this call and, when given, its refresh token."""
    if caller.access is not None:
        await services.sessions.revoke_access(caller.access.jti, caller.access.expires_at)
    services.principals.forget_user(caller.user.id)
    if body is not None and body.refresh_token:
        await services.sessions.end(body.refresh_token)
    return Response(status_code=204)


@router.post("/oauth/signin", response_model=TokenResponse, responses={
    409: {"description": "`code: account_exists`: an account with this email has a password; "
          "sign in with it and link Google sign-in (POST /auth/oauth/link)"}})
async def oauth_signin(request: Request, services: AuthDep) -> TokenResponse:
    """Exchange a Supabase access token (Google sign-in) for Paleon's tokens."""
    if services.supabase is None:
        raise ServiceUnavailable("Google sign-in is not configured (SUPABASE_URL).")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidCredentials("Send `Authorization: Bearer <supabase access token>`.")
    who = await asyncio.to_thread(services.supabase.verify, token.strip())
    user = await asyncio.to_thread(services.identities.sign_in, who)
    return await _token_response(services, user)


@router.post("/oauth/link", response_model=UserResponse, responses={
    409: {"description": "`code: identity_taken`: that Google sign-in belongs to another "
          "account"}})
async def oauth_link(body: LinkRequest, caller: Caller, services: AuthDep) -> UserResponse:
    """Link a Google sign-in to the account signed in here (its Paleon token in
    `Authorization`, the Google sign-in's Supabase access token in the body); from then on
    that Google sign-in signs in to this account."""
    if services.supabase is None:
        raise ServiceUnavailable("Google sign-in is not configured (SUPABASE_URL).")
    who = await asyncio.to_thread(services.supabase.verify, body.supabase_access_token)
    await asyncio.to_thread(services.identities.link, caller.user.id, who)
    return await _profile(services, caller.user)
