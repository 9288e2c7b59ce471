"""Keys are stored encrypted under FIELD_ENCRYPTION_KEY, and a wrong key fails clearly, not loudly."""

from __future__ import annotations

import base64
import logging
from io import StringIO
from pathlib import Path

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client

from credentials.models import UserCredential
from credentials.services import CredentialUnreadable, credential_resolve, credential_set, credential_verify
from gateway.services import token_create
from tests.conftest import start_api

from .conftest import USER, client_with, new_key

pytestmark = pytest.mark.django_db


def stored_bytes() -> list[bytes]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM credentials_usercredential ORDER BY id")
        return [bytes(row[0]) for row in cursor.fetchall()]


def encodings(key: str) -> list[bytes]:
    raw = key.encode()
    return [
        raw,
        base64.b64encode(raw),
        base64.urlsafe_b64encode(raw),
        raw.hex().encode(),
        key.encode("utf-16-le"),
    ]


def test_raw_sql_shows_ciphertext_never_the_key() -> None:
    keys = [new_key() for _ in range(3)]
    for provider, key in zip(["openai", "openrouter"], keys, strict=False):
        credential_set(user_id=USER, provider=provider, api_key=key, verify=False)
    credential_set(user_id="42", provider="openai", api_key=keys[2], verify=False)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM credentials_usercredential")
        whole_rows = repr(cursor.fetchall())
        cursor.execute("SELECT api_key::text FROM credentials_usercredential")
        as_text = repr(cursor.fetchall())
    stored = stored_bytes()
    assert len(stored) == 3
    # Same key twice: different ciphertexts (random IV).
    assert stored[1] != stored[2]
    for key in keys:
        assert key not in whole_rows and key not in as_text
        for blob in stored:
            assert len(blob) > len(key)
            for form in encodings(key):
                assert form not in blob


def test_encryption_follows_field_encryption_key_not_secret_key(settings) -> None:
    key = new_key()
    credential_set(user_id=USER, provider="openai", api_key=key, verify=False)
    # django-cryptography would sign with SECRET_KEY; ours does not depend on it.
    settings.SECRET_KEY = "another-secret-key-" + "x" * 40
    assert credential_resolve(user_id=USER).api_key == key
    settings.FIELD_ENCRYPTION_KEY = "not-the-key-it-was-stored-with"
    with pytest.raises(CredentialUnreadable):
        credential_resolve(user_id=USER)


def test_wrong_encryption_key_gives_a_clear_error_when_the_key_is_used(settings, caplog) -> None:
    key = new_key()
    credential = credential_set(user_id=USER, provider="openai", api_key=key, verify=False)
    settings.FIELD_ENCRYPTION_KEY = "a-different-key-than-before"
    settings.LLM_API_KEY = new_key("sk-operator-")  # not silently used instead of the user's key
    caplog.set_level(logging.WARNING, logger="credentials")
    with pytest.raises(CredentialUnreadable) as caught:
        credential_resolve(user_id=USER)
    error = caught.value
    assert (error.status_code, error.code) == (409, "credential_unreadable")
    assert "Your stored OpenAI API key cannot be read" in error.message
    assert "set it again" in error.message
    (record,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert record.name == "credentials.services"
    message = record.getMessage()
    assert "FIELD_ENCRYPTION_KEY" in message and f"credential {credential.pk}" in message
    assert key not in message and settings.FIELD_ENCRYPTION_KEY not in message
    with pytest.raises(CredentialUnreadable):
        credential_verify(user_id=USER, provider="openai")
    # Loading the row does not raise; the stored bytes survive a save unchanged.
    before = stored_bytes()
    row = UserCredential.objects.get()
    row.is_valid = True
    row.save()
    assert stored_bytes() == before


def test_wrong_encryption_key_does_not_break_listing_or_admin(settings, client: Client) -> None:
    credential = credential_set(user_id=USER, provider="openai", api_key=new_key(), verify=False)
    settings.FIELD_ENCRYPTION_KEY = "a-different-key-than-before"
    _, raw = token_create(name="user", user_id=USER)
    listing = client_with(raw).get(f"/users/{USER}/credentials/")
    assert listing.status_code == 200
    assert listing.json()[0]["hint"] == credential.hint
    verify = client_with(raw).post(f"/users/{USER}/credentials/openai/verify")
    assert verify.status_code == 409
    assert verify.json()["error"]["code"] == "credential_unreadable"
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    assert client.get("/admin/credentials/usercredential/").status_code == 200
    assert client.get(f"/admin/credentials/usercredential/{credential.pk}/change/").status_code == 200
    assert client.post(
        f"/admin/credentials/usercredential/{credential.pk}/delete/", {"post": "yes"}
    ).status_code in (200, 302)
    assert not UserCredential.objects.exists()


def test_dumpdata_leaves_keys_out() -> None:
    key = new_key()
    credential_set(user_id=USER, provider="openai", api_key=key, verify=False)
    out = StringIO()
    call_command("dumpdata", "credentials", stdout=out)
    dumped = out.getvalue()
    assert '"hint"' in dumped
    assert key not in dumped and '"api_key"' not in dumped


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_server_started_with_the_wrong_encryption_key_still_answers(
    test_database_url: str, process_logs: Path
) -> None:
    credential_set(user_id=USER, provider="openai", api_key=new_key(), verify=False)
    _, raw = token_create(name="user", user_id=USER)
    api, url = start_api(process_logs, test_database_url, FIELD_ENCRYPTION_KEY="started-with-the-wrong-key")
    try:
        headers = {"Authorization": f"Bearer {raw}"}
        listing = httpx.get(f"{url}/users/{USER}/credentials/", headers=headers, timeout=30)
        assert listing.status_code == 200
        assert listing.json()[0]["provider"] == "openai"
        verify = httpx.post(f"{url}/users/{USER}/credentials/openai/verify", headers=headers, timeout=30)
        assert verify.status_code == 409
        assert "cannot be read" in verify.json()["error"]["message"]
        assert api.alive()
    finally:
        api.stop()
    assert "FIELD_ENCRYPTION_KEY" in api.output()
