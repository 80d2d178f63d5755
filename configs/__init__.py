"""Typed settings: one Settings per process, built once from the environment and arguments."""

from configs.calibration import Calibration
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
from configs.settings import Settings

__all__ = ["Calibration", "JobSettings", "JobTaskSettings", "LoginSettings", "OpenAISettings",
           "Settings", "SupabaseSettings", "TierLimits", "UploadSettings",
           "WebhookSettings"]
