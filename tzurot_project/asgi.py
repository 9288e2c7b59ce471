"""ASGI entry point (uvicorn serves this; long-polls need no thread while waiting)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tzurot_project.settings")

from tzurot_project.config import load_settings_or_exit

load_settings_or_exit()

from django.core.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()
