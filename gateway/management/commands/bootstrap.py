"""First-start set-up, run by ``make run`` after migrating; safe to run again."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from gateway.services import token_register
from personalities_app.io import read_path
from personalities_app.models import Personality
from personalities_app.services import personalities_upsert


class Command(BaseCommand):
    help = (
        "Prepare a fresh installation: in the embedded default, create the `admin` "
        "superuser with a generated password kept in var/admin-password; register the bot's "
        "service token (BOT_SERVICE_TOKEN); load the bundled personalities when there are "
        "none yet. Does nothing that is already done."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        self.ensure_admin()
        self.ensure_bot_token()
        self.ensure_personalities()

    def ensure_bot_token(self) -> None:
        """The bot's service token (BOT_SERVICE_TOKEN, generated in the embedded default) is valid."""
        if not settings.BOT_SERVICE_TOKEN:
            self.stdout.write(
                "BOT_SERVICE_TOKEN is not set: the Discord bot will not be able to call the API."
            )
            return
        _, created = token_register(name="discord-bot", raw=settings.BOT_SERVICE_TOKEN, is_service=True)
        if created:
            self.stdout.write("Registered the bot's service token (BOT_SERVICE_TOKEN).")

    def ensure_personalities(self) -> None:
        # Only on a first start: afterwards the operator owns the characters
        # (edits and deletions in the admin must survive restarts).
        if Personality.objects.exists():
            return
        outcomes = personalities_upsert(specs=read_path(Path(settings.BASE_DIR) / "personalities"))
        names = ", ".join(outcome.slug for outcome in outcomes)
        self.stdout.write(f"Loaded {len(outcomes)} bundled personalities: {names}.")

    def ensure_admin(self) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        if settings.PRODUCTION:
            self.stdout.write("No superuser yet: create one with `python manage.py createsuperuser`.")
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser("admin", "", password)
        path = Path(settings.VAR_DIR) / "admin-password"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
        self.stdout.write(f"Created the superuser `admin`; its password is in {path}.")
