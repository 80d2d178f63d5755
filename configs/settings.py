"""Typed settings for every Paleon process, read from the environment (prefix-free)."""

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from configs.calibration import Calibration

_PLACEHOLDER_SECRETS = {"changeme", "secret", "dev-insecure-secret", "dev-insecure-pepper",
                        "please-change-me"}
DEV_JWT_SECRET = "dev-insecure-secret"  # noqa: S105 (refused outside development)
DEV_API_KEY_PEPPER = "dev-insecure-pepper"  # refused outside development, like the secret


class TierLimits(BaseModel):
    """Jobs a user may submit per UTC day, by tier."""

    free: int = Field(default=10, ge=0)
    pro: int = Field(default=200, ge=0)
    enterprise: int = Field(default=5000, ge=0)

    def for_tier(self, tier: str) -> int:
        return getattr(self, tier, self.free)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_nested_delimiter="__", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path(".paleon")

    redis_url: str = "redis://127.0.0.1:6379/0"
    milvus_uri: str = "http://127.0.0.1:19530"
    milvus_token: SecretStr | None = None
    database_url: str | None = None  # default: SQLite file in data_dir

    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_ttl_s: int = Field(default=900, ge=60)  # short: refresh tokens renew it
    refresh_ttl_s: int = Field(default=30 * 24 * 3600, ge=300)
    api_key_pepper: SecretStr = SecretStr(DEV_API_KEY_PEPPER)
    max_api_keys: int = Field(default=10, ge=1)

    supabase_url: str | None = None  # https://<project>.supabase.co; enables Google sign-in
    supabase_anon_key: SecretStr | None = None  # only for legacy HS256 projects (GoTrue)
    supabase_jwt_algorithms: list[str] = ["ES256", "RS256"]
    supabase_jwks_refresh_cooldown_s: float = Field(default=30.0, ge=0)

    tier_limits: TierLimits = TierLimits()
    login_failures_per_account: int = Field(default=5, ge=1)
    login_failures_per_address: int = Field(default=50, ge=1)
    login_window_s: int = Field(default=900, ge=1)

    # Browser origins allowed to call the API (CORS), e.g. ["https://app.example.com"].
    cors_origins: list[str] = []
    # When set, GET /metrics wants `Authorization: Bearer <token>` (Prometheus: bearer_token).
    metrics_token: SecretStr | None = None
    # Seconds an ingress replica that is going away waits for the jobs it launched.
    shutdown_grace_s: float = Field(default=10.0, ge=0)

    max_files: int = Field(default=5, ge=1)
    max_file_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_image_pixels: int = Field(default=40_000_000, ge=10_000)
    stored_long_side: int = Field(default=1024, ge=64)

    top_k: int = Field(default=10, ge=1, le=100)  # neighbours per photo
    calibration: Calibration = Calibration()  # evidence fusion; fitted by `paleon eval`

    # An OpenAI-compatible vision model refines the identification when a key is set.
    openai_api_key: SecretStr | None = None
    openai_base_url: str = "https://api.openai.com/v1"  # vLLM, Ollama, ... speak it too
    openai_model: str = "gpt-4o-mini"
    openai_timeout_s: float = Field(default=30.0, gt=0)
    openai_max_retries: int = Field(default=2, ge=0, le=10)  # on 429, 5xx and timeouts
    openai_image_side: int = Field(default=768, ge=64, le=2048)  # photos are downscaled to it

    result_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)
    job_pending_timeout_s: float = Field(default=120.0, gt=0)
    job_processing_timeout_s: float = Field(default=60.0, gt=0)
    job_max_attempts: int = Field(default=3, ge=1)
    reaper_interval_s: float = Field(default=2.0, gt=0)
    # CPU a job task reserves: it mostly waits on the deployments, but the reservation bounds
    # how many task worker processes run at once (each costs memory and background CPU).
    job_task_cpus: float = Field(default=0.05, gt=0, le=1)

    @property
    def milvus_token_value(self) -> str:
        """MILVUS_TOKEN as pymilvus takes it: "" when unset."""
        return self.milvus_token.get_secret_value() if self.milvus_token else ""

    @field_validator("metrics_token")
    @classmethod
    def _real_token(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and len(token.get_secret_value()) < 16:
            raise ValueError("METRICS_TOKEN must be at least 16 characters (unset it to leave "
                             "/metrics open)")
        return token

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if origin == "*":
                continue
            parsed = urlsplit(origin)
            if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.path \
                    or parsed.query or parsed.fragment:
                raise ValueError(f"CORS origin {origin!r} must be scheme://host[:port], "
                                 "with no path")
        return origins

    @model_validator(mode="after")
    def _secret_is_real_outside_development(self) -> "Settings":
        if self.environment == "development":
            return self
        for name, value in (("JWT_SECRET", self.jwt_secret),
                            ("API_KEY_PEPPER", self.api_key_pepper)):
            secret = value.get_secret_value()
            if secret in _PLACEHOLDER_SECRETS or len(secret.encode()) < 32:
                raise ValueError(
                    f"{name} must be set to a random value of at least 32 bytes outside "
                    "development (`python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
                )
        return self

    @property
    def sql_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'paleon.db').resolve()}"
