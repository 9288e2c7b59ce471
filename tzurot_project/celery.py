"""The Celery application, configured from Django settings (``CELERY_*``)."""

from __future__ import annotations

import functools
import os
from types import SimpleNamespace

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tzurot_project.settings")


@functools.cache
def celery_settings() -> SimpleNamespace:
    """The ``CELERY_*`` Django settings, copied when Celery first reads its configuration.

    Celery reads its configuration on every publish (several keys, each
    looked for under a few names). Read through ``django.conf.settings`` (a
    lazy object) those lookups were a fifth of the CPU of publishing a task; from a
    plain object they cost a fraction of that. Settings are fixed for the life of
    a process, so the copy is the same configuration.
    """
    from django.conf import settings

    return SimpleNamespace(
        **{name: getattr(settings, name) for name in dir(settings) if name.startswith("CELERY_")}
    )


def __getattr__(name: str) -> object:
    # Celery imports "tzurot_project.celery:SETTINGS" only when it first needs
    # its configuration, by which time Django's settings are loaded.
    if name == "SETTINGS":
        return celery_settings()
    raise AttributeError(name)


app = Celery("tzurot")
app.config_from_object("tzurot_project.celery:SETTINGS", namespace="CELERY")
app.autodiscover_tasks()
