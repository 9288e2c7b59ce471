"""API tokens: created by a command, stored hashed, revocable."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from gateway.auth import token_from_header
from gateway.models import ApiToken, hash_token
from gateway.services import token_revoke


@pytest.mark.django_db
def test_create_api_token_prints_a_token_stored_only_as_a_hash() -> None:
    out = StringIO()
    call_command("create_api_token", "bot", "--service", stdout=out, stderr=StringIO())
    raw = out.getvalue().strip()
    assert raw.startswith("tzr_")
    token = ApiToken.objects.get()
    assert token.is_service
    assert token.key_hash == hash_token(raw)
    assert raw not in str(ApiToken.objects.values().get())
    assert token_from_header(f"Bearer {raw}") == token


@pytest.mark.django_db
def test_user_token_acts_only_for_its_user() -> None:
    out = StringIO()
    call_command("create_api_token", "alice", "--user", "123", stdout=out, stderr=StringIO())
    token = ApiToken.objects.get()
    assert token.may_act_for("123") and not token.may_act_for("456")


@pytest.mark.django_db
def test_revoked_token_is_refused() -> None:
    out = StringIO()
    call_command("create_api_token", "bot", "--service", stdout=out, stderr=StringIO())
    token_revoke(token=ApiToken.objects.get())
    from rest_framework.exceptions import AuthenticationFailed

    with pytest.raises(AuthenticationFailed):
        token_from_header(f"Bearer {out.getvalue().strip()}")


@pytest.mark.django_db
@pytest.mark.parametrize("args", [["x"], ["x", "--service", "--user", "1"], ["x", "--user", "abc"]])
def test_create_api_token_rejects_bad_arguments(args: list[str]) -> None:
    with pytest.raises(CommandError):
        call_command("create_api_token", *args, stdout=StringIO(), stderr=StringIO())
