"""Request and response bodies of the /auth routes (the integration guide's names)."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

Username = Field(min_length=3, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")


class RegisterRequest(BaseModel):
    email: EmailStr
    username: str = Username
    password: str = Field(min_length=1, max_length=1024)


class LoginRequest(BaseModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=1024)


class UserResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str
    username: str
    tier: str
    provider: str
    created_at: datetime
    display_name: str | None = None  # from Google sign-in
    avatar_url: str | None = None


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a scheme name)
    expires_in: int
    refresh_token: str  # single use: each refresh returns the next one
    user: UserResponse


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=256)


class LogoutRequest(BaseModel):
    refresh_token: str | None = Field(default=None, max_length=256)


class APIKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[\w .@:/-]+$")


class APIKeyInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    prefix: str  # the key's first characters, to tell keys apart
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class APIKeyResponse(APIKeyInfo):
    key: str  # shown once, at creation
