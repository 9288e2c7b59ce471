from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "Gateway"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from personalities_app.models import Personality

        from . import heartbeat  # noqa: F401  (connects the heartbeat to Celery's worker signals)
        from .services import personality_cache_clear

        # Any change to a personality clears this process's cache of them.
        for signal in (post_save, post_delete):
            signal.connect(
                personality_cache_clear, sender=Personality, dispatch_uid="tzurot-personality-cache"
            )
