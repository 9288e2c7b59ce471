"""Shared set-up for the generation tests: a personality, tokens, a worker on the fake provider."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from gateway.services import token_create
from personalities_app.models import Personality
from tests.conftest import Process, start_worker
from tests.fakes.openai_server import FakeOpenAI

OPERATOR_KEY = "sk-operator-test-key"


def make_personality(slug: str = "nova", **fields: Any) -> Personality:
    defaults = {
        "name": "Nova",
        "system_prompt": "You are Nova, a starship navigator.",
        "traits": "Curious, precise.",
        "error_message": "My instruments flicker...",
    }
    defaults.update(fields)
    return Personality.objects.create(slug=slug, **defaults)


def api_client(raw_token: str | None) -> APIClient:
    client = APIClient()
    if raw_token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_token}")
    return client


def service_client() -> APIClient:
    _, raw = token_create(name="bot", is_service=True)
    return api_client(raw)


def generate_body(message: str = "Hello there", user_id: str = "111", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "personality": "nova",
        "message": message,
        "context": {"user_id": user_id, "user_name": "Alice", "channel_id": "222", "guild_id": "333"},
    }
    body.update(extra)
    return body


def worker_env(fake: FakeOpenAI, **extra: str) -> dict[str, str]:
    env = {
        "LLM_BASE_URL": fake.base_url,
        "LLM_API_KEY": OPERATOR_KEY,
        "LLM_BACKOFF_BASE": "0.05",
        "JOB_REQUEUE_AFTER": "5",
    }
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def generation_worker(
    test_database_url: str, process_logs: Path, _fake_openai_server: FakeOpenAI
) -> Iterator[Process]:
    worker = start_worker(process_logs, test_database_url, **worker_env(_fake_openai_server))
    yield worker
    worker.stop()
