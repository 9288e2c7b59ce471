from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "Gateway"

    def ready(self) -> None:
        # Connects the worker heartbeat to Celery's worker signals.
        from . import heartbeat  # noqa: F401
