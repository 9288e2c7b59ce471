from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "ingest"
    verbose_name = "Imports"

    def ready(self) -> None:
        from . import signals  # noqa: F401 - connects the receivers
