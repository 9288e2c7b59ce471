"""Start-up guard shared by every entry point (manage.py, ASGI, WSGI, Celery)."""

from __future__ import annotations

import sys

from django.core.exceptions import ImproperlyConfigured


def load_settings_or_exit() -> None:
    """Load the settings now; on a configuration error print one line and exit 2.

    A bad environment is the operator's mistake, not a bug: it deserves a message
    naming the variable, not a traceback.
    """
    from django.conf import settings

    try:
        settings.INSTALLED_APPS  # noqa: B018 - forces the settings module to load
    except ImproperlyConfigured as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
