"""WSGI entry point, for servers that speak only WSGI (long-polls then hold a thread)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tzurot_project.settings")

from tzurot_project.config import load_settings_or_exit

load_settings_or_exit()

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
