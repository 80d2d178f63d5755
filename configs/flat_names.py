"""The flat environment names the README documents (MAX_FILES, JOB_MAX_ATTEMPTS, ...), read
into the settings groups. They are a public contract, so they keep working beside the nested
form (UPLOADS__MAX_FILES), which wins when both are set."""

import json
import os
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

# flat name → (group, field in the group)
FLAT_NAMES: dict[str, tuple[str, str]] = {
    "max_files": ("uploads", "max_files"),
    "max_file_bytes": ("uploads", "max_file_bytes"),
    "max_image_pixels": ("uploads", "max_pixels"),
    "stored_long_side": ("uploads", "long_side"),
    "concurrent_uploads": ("uploads", "concurrent_uploads"),
    "upload_buffer_bytes": ("uploads", "buffer_bytes"),
    "refused_uploads_per_day": ("uploads", "refused_per_day"),
    "uploads_in_flight_per_user": ("uploads", "in_flight_per_user"),
    "min_upload_rate_bytes_s": ("uploads", "min_rate_bytes_s"),
    "job_pending_timeout_s": ("jobs", "pending_timeout_s"),
    "job_processing_timeout_s": ("jobs", "processing_timeout_s"),
    "job_max_attempts": ("jobs", "max_attempts"),
    "job_unavailable_retry_s": ("jobs", "unavailable_retry_s"),
    "job_max_hand_backs": ("jobs", "max_hand_backs"),
    "result_ttl_s": ("jobs", "result_ttl_s"),
    "reaper_interval_s": ("jobs", "reaper_interval_s"),
    "job_task_cpus": ("jobs", "task_cpus"),
    "job_workers": ("jobs", "workers"),
    "job_worker_concurrency": ("jobs", "worker_concurrency"),
    "work_niceness": ("jobs", "work_niceness"),
    "work_scheduling": ("jobs", "work_scheduling"),
    "shutdown_grace_s": ("jobs", "shutdown_grace_s"),
    "canceled_refunds_per_day": ("jobs", "canceled_refunds_per_day"),
    "waiting_requests_per_user": ("jobs", "waiting_requests_per_user"),
    "webhook_retry_schedule_s": ("webhooks", "retry_schedule_s"),
    "webhook_timeout_s": ("webhooks", "timeout_s"),
    "webhook_allowed_networks": ("webhooks", "allowed_networks"),
    "login_failures_per_account_address": ("login", "failures_per_account_address"),
    "login_slow_down_after": ("login", "slow_down_after"),
    "login_max_delay_s": ("login", "max_delay_s"),
    "registrations_per_address": ("login", "registrations_per_address"),
    "registration_window_s": ("login", "registration_window_s"),
    "throttle_ipv6_prefix": ("login", "ipv6_prefix"),
    "login_failures_per_address": ("login", "failures_per_address"),
    "login_window_s": ("login", "window_s"),
    "supabase_url": ("supabase", "url"),
    "supabase_anon_key": ("supabase", "anon_key"),
    "supabase_jwt_algorithms": ("supabase", "jwt_algorithms"),
    "supabase_jwks_refresh_cooldown_s": ("supabase", "jwks_refresh_cooldown_s"),
    "openai_api_key": ("openai", "api_key"),
    "openai_base_url": ("openai", "base_url"),
    "openai_model": ("openai", "model"),
    "openai_timeout_s": ("openai", "timeout_s"),
    "openai_max_retries": ("openai", "max_retries"),
    "openai_image_side": ("openai", "image_side"),
}
_JSON_VALUED = {"supabase_jwt_algorithms"}


def nest(values: dict[str, Any]) -> dict[str, Any]:
    """Flat names moved into their groups; a value already given in a group wins."""
    out = {name: value for name, value in values.items() if name not in FLAT_NAMES}
    for name, (group, field) in FLAT_NAMES.items():
        if name in values:
            target = dict(out.get(group) or {})
            target.setdefault(field, values[name])
            out[group] = target
    return out


class FlatEnvironment(PydanticBaseSettingsSource):
    """A settings source over the flat names in os.environ (case-insensitive)."""

    def __init__(self, settings_cls: type[BaseSettings]):
        super().__init__(settings_cls)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the names itself

    def __call__(self) -> dict[str, Any]:
        environ = {name.lower(): value for name, value in os.environ.items()}
        found: dict[str, Any] = {}
        for name in FLAT_NAMES:
            if name in environ:
                raw = environ[name]
                found[name] = json.loads(raw) if name in _JSON_VALUED else raw
        return nest(found)
