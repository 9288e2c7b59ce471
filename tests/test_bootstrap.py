"""`manage.py bootstrap`, run by `make run` on every start: idempotent first-start set-up."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from gateway.auth import token_from_header
from gateway.models import ApiToken

pytestmark = pytest.mark.django_db


def test_bootstrap_creates_admin_and_registers_the_bot_token_once(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings.VAR_DIR = tmp_path
    settings.BOT_SERVICE_TOKEN = "tzr_bot-token-for-tests"
    call_command("bootstrap", stdout=StringIO())
    call_command("bootstrap", stdout=StringIO())

    admin = get_user_model().objects.get(username="admin")
    password = (tmp_path / "admin-password").read_text().strip()
    assert admin.is_superuser and admin.check_password(password)
    assert (tmp_path / "admin-password").stat().st_mode & 0o077 == 0
    token = ApiToken.objects.get()
    assert token.is_service and token.name == "discord-bot"
    assert token_from_header("Bearer tzr_bot-token-for-tests") == token
