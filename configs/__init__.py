from configs.settings import Settings, TierLimits

__all__ = ["Settings", "TierLimits"]
