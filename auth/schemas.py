"""Request and response bodies of the /auth routes (the integration guide's names)."""

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

from auth.passwords import MAX_BYTES, MIN_LENGTH

Username = Field(min_length=3, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")


def _utc(moment: datetime) -> datetime:
    """SQLite hands timestamps back without their zone; every one the API returns is UTC
    with an offset (RFC 3339), so a client never reads one as local time."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


UTCDateTime = Annotated[datetime, AfterValidator(_utc)]


class RegisterRequest(BaseModel):
    email: EmailStr
    username: str = Username
    # The policy (auth/passwords.check_policy) answers 400 with its reason; the schema
    # states it, so that generated clients can check before sending.
    password: str = Field(min_length=1, max_length=1024, json_schema_extra={
        "minLength": MIN_LENGTH, "maxLength": MAX_BYTES,
        "description": f"At least {MIN_LENGTH} characters and 4 different ones, at most "
                       f"{MAX_BYTES} bytes in UTF-8 (bcrypt's limit), not the email or the "
                       "username."})


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
    created_at: UTCDateTime
    display_name: str | None = None  # from Google sign-in
    avatar_url: str | None = None


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a scheme name)
    expires_in: int
    refresh_token: str  # single use: each refresh returns the next one
    user: UserResponse


class LinkRequest(BaseModel):
    supabase_access_token: str = Field(min_length=1, max_length=8192,
                                       description="The Google sign-in's Supabase access token")


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
    created_at: UTCDateTime
    last_used_at: UTCDateTime | None = None
    revoked_at: UTCDateTime | None = None


class APIKeyResponse(APIKeyInfo):
    key: str  # shown once, at creation


class WebhookSecretResponse(BaseModel):
    secret: str = Field(description="`whsec_` + base64: the key of every webhook signature "
                                    "(Standard Webhooks); decode the part after `whsec_`")
    previous_valid_until: datetime | None = Field(
        default=None, description="after a rotation, the previous secret also signs until "
                                  "then (both signatures are sent)")
