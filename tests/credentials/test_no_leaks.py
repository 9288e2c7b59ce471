"""A key given to the API never comes back out: not in responses, logs (DEBUG, SQL included),
admin pages, or exception messages."""

from __future__ import annotations

import base64
import logging
import traceback
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from credentials.models import UserCredential
from credentials.services import (
    CredentialRejected,
    CredentialUnreadable,
    ProviderUnreachable,
    credential_resolve,
    credential_set,
    credential_verify,
)
from gateway.errors import ApiError
from tests.fakes.openai_server import FakeOpenAI, Reply
from tzurot_project.embedded import free_port

from .conftest import USER, new_key

pytestmark = pytest.mark.django_db

BASE = f"/users/{USER}/credentials/"
LOGGERS = ["", "django", "django.db.backends", "django.request", "credentials", "openai", "httpx", "httpcore"]


def forms(secret: str) -> list[str]:
    raw = secret.encode()
    return [secret, base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(), raw.hex()]


def assert_absent(secrets: list[str], text: str, where: str) -> None:
    for secret in secrets:
        for form in forms(secret):
            assert form not in text, f"a key appears in {where}"


@pytest.fixture
def sql_logged() -> Iterator[None]:
    # Django logs SQL (with its parameters) only with DEBUG=True or a forced debug cursor.
    previous = connection.force_debug_cursor
    connection.force_debug_cursor = True
    yield
    connection.force_debug_cursor = previous


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture, sql_logged: None) -> pytest.LogCaptureFixture:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def logged_text(caplog: pytest.LogCaptureFixture) -> str:
    parts = [caplog.text]
    for record in caplog.records:
        parts += [record.getMessage(), repr(record.args), repr(getattr(record, "params", None))]
        if record.exc_info:
            parts.append("".join(traceback.format_exception(*record.exc_info)))
    return "\n".join(parts)


def test_key_never_appears_in_responses_logs_or_admin(
    settings,
    debug_logs: pytest.LogCaptureFixture,
    providers: FakeOpenAI,
    service_client: APIClient,
    client: Client,
) -> None:
    key, rejected, unchecked, spaced = new_key(), new_key(), new_key(), new_key() + " tail"
    providers.rejected_keys.add(rejected)
    bodies: list[str] = []

    def call(method: str, path: str, body: dict | None = None, expect: int = 200) -> None:
        response = getattr(service_client, method)(path, body, format="json")
        assert response.status_code == expect, response.content
        bodies.append(response.content.decode())

    call("put", BASE + "openai", {"api_key": key})  # checked and stored
    call("get", BASE)
    call("post", BASE + "openai/verify")
    assert credential_resolve(user_id=USER, provider="openai").source == "user"  # what a worker does
    call("put", BASE + "openrouter", {"api_key": rejected}, expect=400)  # rejected by the provider
    providers.script("key", Reply(status=500))
    call("put", BASE + "openrouter", {"api_key": unchecked}, expect=503)  # provider failing
    call("put", BASE + "openrouter", {"api_key": spaced}, expect=400)  # invalid input
    call("put", BASE + "custom", {"api_key": unchecked, "base_url": None}, expect=400)
    providers.rejected_keys.add(key)
    call("post", BASE + "openai/verify")  # now rejected: valid false

    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    pk = UserCredential.objects.get().pk
    for path in (
        "/admin/credentials/usercredential/",
        f"/admin/credentials/usercredential/{pk}/change/",
        f"/admin/credentials/usercredential/{pk}/delete/",
    ):
        page = client.get(path)
        assert page.status_code == 200
        bodies.append(page.content.decode())

    settings.FIELD_ENCRYPTION_KEY = "now-a-different-encryption-key"
    call("post", BASE + "openai/verify", expect=409)  # unreadable
    call("get", BASE)

    secrets = [key, rejected, unchecked, spaced, spaced.split()[0]]
    for body in bodies:
        assert_absent(secrets, body, "an API response or admin page")
    logs = logged_text(debug_logs)
    assert_absent(secrets, logs, "the logs")
    # The test is only worth something if SQL and provider calls were logged at all.
    sql = [r for r in debug_logs.records if r.name == "django.db.backends"]
    assert any(
        "INSERT INTO" in r.getMessage() and "credentials_usercredential" in r.getMessage() for r in sql
    )
    assert any(r.name.startswith("openai") for r in debug_logs.records)
    assert any(r.name == "credentials.services" and r.levelno == logging.WARNING for r in debug_logs.records)


def raised(function, **kwargs) -> ApiError:  # type: ignore[no-untyped-def]
    with pytest.raises(ApiError) as caught:
        function(**kwargs)
    return caught.value


def exception_text(error: ApiError) -> str:
    return "\n".join(
        [str(error), repr(error), repr(error.args), repr(error.details), *traceback.format_exception(error)]
    )


def test_key_never_appears_in_exception_messages(settings, providers: FakeOpenAI) -> None:
    key = new_key()
    providers.rejected_keys.add(key)
    rejected = raised(credential_set, user_id=USER, provider="openai", api_key=key)
    assert isinstance(rejected, CredentialRejected)

    providers.rejected_keys.clear()
    providers.script("models", Reply(status=500))
    failing = raised(credential_set, user_id=USER, provider="openai", api_key=key)
    assert isinstance(failing, ProviderUnreachable)

    closed = f"http://127.0.0.1:{free_port()}/v1"
    unreachable = raised(credential_set, user_id=USER, provider="custom", api_key=key, base_url=closed)
    assert isinstance(unreachable, ProviderUnreachable)

    invalid = raised(credential_set, user_id=USER, provider="openai", api_key=key + "\x00")

    credential_set(user_id=USER, provider="openai", api_key=key, verify=False)
    settings.FIELD_ENCRYPTION_KEY = "now-a-different-encryption-key"
    unreadable = raised(credential_resolve, user_id=USER)
    assert isinstance(unreadable, CredentialUnreadable)
    unreadable_verify = raised(credential_verify, user_id=USER, provider="openai")

    for error in (rejected, failing, unreachable, invalid, unreadable, unreadable_verify):
        # No provider error (which may quote the key) is chained to ours.
        assert error.__cause__ is None and error.__context__ is None
        assert_absent([key], exception_text(error), f"a {type(error).__name__}")
