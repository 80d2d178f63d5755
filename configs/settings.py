"""Typed settings for every Paleon process, read from the environment (prefix-free)."""

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from configs.calibration import Calibration
from configs.flat_names import FlatEnvironment, nest
from configs.groups import (
    JobSettings,
    JobTaskSettings,
    LoginSettings,
    OpenAISettings,
    SupabaseSettings,
    TierLimits,
    UploadSettings,
    WebhookSettings,
)

_PLACEHOLDER_SECRETS = {"changeme", "secret", "dev-insecure-secret", "dev-insecure-pepper",
                        "please-change-me"}
DEV_JWT_SECRET = "dev-insecure-secret"  # noqa: S105 (refused outside development)
DEV_API_KEY_PEPPER = "dev-insecure-pepper"  # refused outside development, like the secret


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_nested_delimiter="__", extra="ignore")

    # Production unless told otherwise: only an explicit `development` (which `paleon serve`
    # sets) may sign with placeholder secrets or leave /metrics open.
    environment: Literal["development", "test", "production"] = "production"
    # Per user, not per working directory (~/.local/share/paleon on Linux); DATA_DIR overrides.
    data_dir: Path = Field(default_factory=lambda: platformdirs.user_data_path("paleon"))

    redis_url: str = "redis://127.0.0.1:6379/0"
    milvus_uri: str = "http://127.0.0.1:19530"
    milvus_token: SecretStr | None = None
    database_url: str | None = None  # default: SQLite file in data_dir

    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_ttl_s: int = Field(default=900, ge=60)  # short: refresh tokens renew it
    refresh_ttl_s: int = Field(default=30 * 24 * 3600, ge=300)
    api_key_pepper: SecretStr = SecretStr(DEV_API_KEY_PEPPER)
    max_api_keys: int = Field(default=10, ge=1)
    # How long a replica trusts a credential it has checked (auth/principal_cache.py); 0: never.
    principal_cache_s: float = Field(default=5.0, ge=0, le=60)

    supabase: SupabaseSettings = SupabaseSettings()
    tier_limits: TierLimits = TierLimits()
    login: LoginSettings = LoginSettings()
    uploads: UploadSettings = UploadSettings()
    jobs: JobSettings = JobSettings()
    webhooks: WebhookSettings = WebhookSettings()
    openai: OpenAISettings = OpenAISettings()

    # The body limit of every route but the upload (uploads.body_bytes): JSON bodies are small.
    json_body_bytes: int = Field(default=64 * 1024, ge=1024)

    # Browser origins allowed to call the API (CORS), e.g. ["https://app.example.com"].
    cors_origins: list[str] = []
    # When set, GET /metrics wants `Authorization: Bearer <token>` (Prometheus: bearer_token).
    metrics_token: SecretStr | None = None

    top_k: int = Field(default=10, ge=1, le=100)  # neighbours per photo
    calibration: Calibration = Calibration()  # evidence fusion; fitted by `paleon eval`

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, FlatEnvironment(settings_cls), dotenv_settings,
                file_secret_settings)

    def __init__(self, **values: Any) -> None:
        # Arguments (serve_config.yaml's `settings:` overrides) may use the flat names too;
        # nested before the sources merge, so an argument still beats the environment.
        super().__init__(**nest(values))

    def job_task(self) -> "JobTaskSettings":
        """What a job task needs, and nothing more: it travels with every task."""
        return JobTaskSettings(redis_url=self.redis_url, jobs=self.jobs, uploads=self.uploads,
                               top_k=self.top_k,
                               calibration=self.calibration, openai=self.openai)

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

    def check_signing_secrets(self) -> None:
        """Refuse placeholder or short signing secrets outside development; called by what
        signs or verifies (the Ingress's AuthServices), not by admin commands."""
        if self.environment == "development":
            return
        for name, value in (("JWT_SECRET", self.jwt_secret),
                            ("API_KEY_PEPPER", self.api_key_pepper)):
            secret = value.get_secret_value()
            if secret in _PLACEHOLDER_SECRETS or len(secret.encode()) < 32:
                raise ValueError(
                    f"{name} must be set to a random value of at least 32 bytes outside "
                    "development (`python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
                )

    @property
    def sql_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'paleon.db').resolve()}"
