from tests.integration.notification.kit import h, wechat_providers

__all__ = ["h", "wechat_providers"]
