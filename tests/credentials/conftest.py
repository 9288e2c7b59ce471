"""Fixtures for the credentials tests: providers pointed at the loopback fake, tokens, keys."""

from __future__ import annotations

import secrets

import pytest
from rest_framework.test import APIClient

from gateway.services import token_create
from tests.fakes.openai_server import FakeOpenAI

USER = "111111111111111111"
OTHER_USER = "222222222222222222"


def new_key(prefix: str = "sk-test-") -> str:
    """A key no other test uses, so finding it anywhere is meaningful."""
    return prefix + secrets.token_urlsafe(24)


@pytest.fixture
def providers(settings, fake_openai: FakeOpenAI) -> FakeOpenAI:
    """OpenRouter and OpenAI both served by the fake provider."""
    settings.CREDENTIAL_PROVIDER_BASE_URLS = {
        "openrouter": fake_openai.base_url,
        "openai": fake_openai.base_url,
    }
    return fake_openai


def client_with(raw_token: str | None) -> APIClient:
    client = APIClient()
    if raw_token is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_token}")
    return client


@pytest.fixture
def service_client(db) -> APIClient:
    _, raw = token_create(name="bot", is_service=True)
    return client_with(raw)


@pytest.fixture
def user_client(db) -> APIClient:
    _, raw = token_create(name="user", user_id=USER)
    return client_with(raw)


@pytest.fixture
def other_user_client(db) -> APIClient:
    _, raw = token_create(name="other", user_id=OTHER_USER)
    return client_with(raw)
