"""Generation with a user's own key: it is used, and it never leaks."""

from __future__ import annotations

import json
import secrets
import signal
from pathlib import Path
from typing import Any

import pytest
from celery.signals import before_task_publish
from django.db import connection

from credentials.models import UserCredential
from gateway.models import GenerationJob
from tests.conftest import Process, start_worker
from tests.fakes.openai_server import FakeOpenAI

from .gateway_helpers import generate_body, make_personality, service_client, worker_env
from .test_generation_worker import submit_and_wait

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def debug_worker(test_database_url: str, process_logs: Path, _fake_openai_server: FakeOpenAI) -> Any:
    # Its own worker at DEBUG, so the leak check covers the most verbose logs.
    worker = start_worker(
        process_logs, test_database_url, LOG_LEVEL="DEBUG", **worker_env(_fake_openai_server)
    )
    yield worker
    worker.stop(sig=signal.SIGTERM)


def set_user_key(client, fake: FakeOpenAI, key: str) -> None:  # type: ignore[no-untyped-def]
    response = client.put(
        "/users/111/credentials/custom",
        {"api_key": key, "base_url": fake.base_url, "verify": True},
        format="json",
    )
    assert response.status_code == 200, response.content


def test_users_own_key_is_used_and_recorded_by_source_only(
    fake_openai: FakeOpenAI, debug_worker: Process
) -> None:
    make_personality()
    client = service_client()
    key = "sk-user-" + secrets.token_urlsafe(24)
    set_user_key(client, fake_openai, key)
    job = submit_and_wait(client, generate_body("With my key"))
    assert job["status"] == "succeeded", job
    (call,) = fake_openai.calls("chat")
    assert call.headers["Authorization"] == f"Bearer {key}"
    stored = GenerationJob.objects.get(id=job["job_id"])
    assert stored.credential_source == "user"
    assert stored.credential_id == UserCredential.objects.get(user_id="111").pk


def test_rejected_user_key_fails_at_once_and_appears_nowhere(
    fake_openai: FakeOpenAI, debug_worker: Process
) -> None:
    make_personality()
    client = service_client()
    key = "sk-user-" + secrets.token_urlsafe(24)
    set_user_key(client, fake_openai, key)
    fake_openai.rejected_keys.add(key)

    published: list[str] = []

    def capture(body: Any = None, headers: Any = None, **_: Any) -> None:
        published.append(json.dumps([body, headers], default=str))

    before_task_publish.connect(capture, weak=False)
    try:
        job_id = client.post("/ai/generate", generate_body("Bad key"), format="json").json()["job_id"]
        job = client.get(f"/ai/jobs/{job_id}?wait=25").json()
    finally:
        before_task_publish.disconnect(capture)

    assert job["status"] == "failed"
    assert job["error"]["code"] == "invalid_api_key"
    assert "update your key" in job["error"]["message"].lower()
    assert len(fake_openai.calls("chat")) == 1, "a rejected key is never retried"
    assert UserCredential.objects.get(user_id="111").is_valid is False

    stored = GenerationJob.objects.filter(id=job_id).values().get()
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(j)::text FROM gateway_generationjob j WHERE id = %s", [job_id])
        raw_row = cursor.fetchone()[0]
    places = {
        "job row": json.dumps(stored, default=str),
        "raw SQL row": raw_row,
        "API response": json.dumps(job),
        "task message": "".join(published),
        "worker log": debug_worker.output(),
    }
    assert published, "the task message was captured"
    assert "DEBUG" in places["worker log"]
    for place, text in places.items():
        assert key not in text, f"the key leaked into the {place}"
