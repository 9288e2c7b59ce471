"""The generation pipeline end to end: API → Redis → a real worker process → fake provider."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings

from gateway.models import GenerationJob
from tests.conftest import Process, start_worker, wait_for
from tests.fakes.openai_server import FakeOpenAI, Reply

from .gateway_helpers import generate_body, generation_worker, make_personality, service_client, worker_env

__all__ = ["generation_worker"]  # the fixture is used by name

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("generation_worker")]


@pytest.fixture(autouse=True)
def nova() -> None:
    make_personality()


def submit_and_wait(client, body: dict, wait: int = 20) -> dict:  # type: ignore[no-untyped-def,type-arg]
    job_id = client.post("/ai/generate", body, format="json").json()["job_id"]
    deadline = time.monotonic() + 60
    while True:
        job = client.get(f"/ai/jobs/{job_id}?wait={wait}").json()
        if job["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return job


def test_generation_succeeds_with_result_and_usage(fake_openai: FakeOpenAI) -> None:
    body = generate_body("Where are we?")
    body["context"]["history"] = [
        {"author": "Bob", "content": "We jumped an hour ago.", "is_personality": False},
        {"author": "Nova", "content": "Course plotted.", "is_personality": True},
    ]
    body["context"]["referenced_message"] = {
        "author": "Nova",
        "content": "Course plotted.",
        "is_personality": True,
    }
    job = submit_and_wait(service_client(), body)
    assert job["status"] == "succeeded", job
    assert job["result"]["content"] == "Echo: Alice: Where are we?"
    assert job["result"]["usage"]["total_tokens"] > 0
    assert job["error"] is None and job["finished_at"]

    (call,) = fake_openai.calls("chat")
    assert call.headers["Authorization"] == "Bearer sk-operator-test-key"
    messages = call.body["messages"]
    system = messages[0]["content"]
    assert messages[0]["role"] == "system"
    assert "You are Nova, a starship navigator." in system and "Curious, precise." in system
    assert "replying to Alice" in system
    assert "replying to this message from Nova" in system
    assert messages[1] == {"role": "user", "content": "Bob: We jumped an hour ago."}
    assert messages[2] == {"role": "assistant", "content": "Course plotted."}
    assert messages[-1] == {"role": "user", "content": "Alice: Where are we?"}

    stored = GenerationJob.objects.get(id=job["job_id"])
    assert stored.attempts == 1 and stored.credential_source == "operator"
    assert stored.total_tokens == job["result"]["usage"]["total_tokens"]


def test_duplicate_request_causes_exactly_one_provider_call(fake_openai: FakeOpenAI) -> None:
    fake_openai.chat_delay = 0.5
    client = service_client()
    first = client.post("/ai/generate", generate_body("Once only"), format="json").json()
    second = client.post("/ai/generate", generate_body("Once only"), format="json").json()
    assert second["job_id"] == first["job_id"] and second["deduplicated"]
    job = client.get(f"/ai/jobs/{first['job_id']}?wait=20").json()
    assert job["status"] == "succeeded"
    time.sleep(0.5)  # a second call, if any, would have been made by now
    assert len(fake_openai.calls("chat")) == 1


def test_rate_limited_then_success_honours_retry_after(fake_openai: FakeOpenAI) -> None:
    fake_openai.script("chat", Reply(status=429, headers={"Retry-After": "1"}))
    job = submit_and_wait(service_client(), generate_body("Retry me"))
    assert job["status"] == "succeeded", job
    first, second = fake_openai.calls("chat")
    assert second.at - first.at >= 1.0
    assert GenerationJob.objects.get(id=job["job_id"]).attempts == 2


def test_server_errors_are_retried_up_to_three_attempts(fake_openai: FakeOpenAI) -> None:
    fake_openai.script("chat", Reply(status=502), Reply(status=503), Reply(status=500))
    job = submit_and_wait(service_client(), generate_body("Always failing"))
    assert job["status"] == "failed"
    assert job["error"]["code"] == "provider_error"
    assert len(fake_openai.calls("chat")) == 3


def test_malformed_answer_is_a_provider_error(fake_openai: FakeOpenAI) -> None:
    fake_openai.script("chat", Reply(malformed=True))
    job = submit_and_wait(service_client(), generate_body("Garbled"))
    assert job["status"] == "failed"
    assert job["error"] == {
        "code": "provider_error",
        "message": "The model's provider sent a malformed answer.",
    }


def test_operator_key_rejected_fails_at_once_without_retry(fake_openai: FakeOpenAI) -> None:
    fake_openai.rejected_keys.add("sk-operator-test-key")
    job = submit_and_wait(service_client(), generate_body("Bad key"))
    assert job["status"] == "failed"
    assert job["error"]["code"] == "invalid_api_key"
    assert len(fake_openai.calls("chat")) == 1


def test_wait_returns_as_soon_as_the_job_ends(fake_openai: FakeOpenAI) -> None:
    fake_openai.chat_delay = 1.0
    client = service_client()
    job_id = client.post("/ai/generate", generate_body("Take your time"), format="json").json()["job_id"]
    started = time.monotonic()
    job = client.get(f"/ai/jobs/{job_id}?wait=20").json()
    elapsed = time.monotonic() - started
    assert job["status"] == "succeeded"
    assert 0.5 < elapsed < 10


def test_wait_that_expires_answers_with_the_current_status(fake_openai: FakeOpenAI) -> None:
    fake_openai.chat_delay = 3.0
    client = service_client()
    job_id = client.post("/ai/generate", generate_body("Slow one"), format="json").json()["job_id"]
    job = client.get(f"/ai/jobs/{job_id}?wait=1").json()
    assert job["status"] in ("queued", "running")
    assert client.get(f"/ai/jobs/{job_id}?wait=20").json()["status"] == "succeeded"


def test_image_attachments_reach_a_vision_model_as_content_parts(fake_openai: FakeOpenAI) -> None:
    body = generate_body("What is this?", model="openai/gpt-4o-mini")
    body["context"]["attachments"] = [{"url": "https://cdn.example/a.png", "content_type": "image/png"}]
    assert submit_and_wait(service_client(), body)["status"] == "succeeded"
    (call,) = fake_openai.calls("chat")
    content = call.body["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "Alice: What is this?"}
    assert content[1] == {"type": "image_url", "image_url": {"url": "https://cdn.example/a.png"}}


def test_audio_attachments_are_transcribed_into_the_prompt(fake_openai: FakeOpenAI) -> None:
    fake_openai.files["note.ogg"] = (b"OggS fake audio", "audio/ogg")
    fake_openai.transcript = "meet me at the docking ring"
    body = generate_body("Listen")
    body["context"]["attachments"] = [
        {"url": fake_openai.file_url("note.ogg"), "content_type": "audio/ogg", "filename": "note.ogg"}
    ]
    assert submit_and_wait(service_client(), body)["status"] == "succeeded"
    assert len(fake_openai.calls("transcriptions")) == 1
    (call,) = fake_openai.calls("chat")
    assert "[voice message, transcribed] meet me at the docking ring" in call.body["messages"][-1]["content"]


def count_events(job_ids: list[str], stop: threading.Event, seen: dict[str, int]) -> None:
    client = redis.Redis.from_url(settings.REDIS_URL)
    pubsub = client.pubsub()
    pubsub.psubscribe("tzurot:job:*")
    while not stop.is_set():
        message = pubsub.get_message(timeout=0.2)
        if message and message["type"] == "pmessage":
            job_id = message["channel"].decode().split(":")[-1]
            seen[job_id] = seen.get(job_id, 0) + 1
    pubsub.close()
    client.close()


def test_worker_killed_mid_generation_job_succeeds_exactly_once(
    fake_openai: FakeOpenAI, test_database_url: str, process_logs: Path, generation_worker: Process
) -> None:
    # Only the doomed worker consumes while the job starts.
    generation_worker.popen.send_signal(signal.SIGSTOP)
    seen: dict[str, int] = {}
    stop = threading.Event()
    listener = threading.Thread(target=count_events, args=([], stop, seen), daemon=True)
    listener.start()
    doomed = start_worker(process_logs, test_database_url, **worker_env(fake_openai))
    replacement = None
    try:
        fake_openai.chat_delay = 30  # long enough to kill the worker mid-call
        client = service_client()
        job_id = client.post("/ai/generate", generate_body("Survive this"), format="json").json()["job_id"]
        wait_for(
            lambda: GenerationJob.objects.get(id=job_id).status == "running", 30, "the job to start", doomed
        )
        wait_for(lambda: len(fake_openai.calls("chat")) == 1, 30, "the provider call", doomed)
        doomed.stop(sig=signal.SIGKILL)

        fake_openai.chat_delay = 0
        replacement = start_worker(process_logs, test_database_url, **worker_env(fake_openai))
        wait_for(
            lambda: GenerationJob.objects.get(id=job_id).status == "succeeded",
            60,
            "the job to be recovered and succeed",
            replacement,
            interval=0.2,
        )
        time.sleep(1.5)  # room for a duplicate completion, if there were one
    finally:
        stop.set()
        listener.join(5)
        generation_worker.popen.send_signal(signal.SIGCONT)
        doomed.stop()
        if replacement is not None:
            replacement.stop()
    job = GenerationJob.objects.get(id=job_id)
    assert job.status == "succeeded" and job.recoveries == 1
    assert job.result_content == "Echo: Alice: Survive this"
    assert seen.get(job_id) == 1, f"completion events: {seen}"
    assert len(fake_openai.calls("chat")) == 2  # the killed attempt and the successful one


def test_job_payload_in_the_completion_event_matches_the_api(fake_openai: FakeOpenAI) -> None:
    client = service_client()
    job = submit_and_wait(client, generate_body("Compare"))
    assert json.loads(json.dumps(job)) == client.get(f"/ai/jobs/{job['job_id']}").json()


def test_a_character_deactivated_after_the_request_fails_its_job_without_a_call(
    fake_openai: FakeOpenAI,
) -> None:
    from personalities_app.models import Personality

    client = service_client()
    assert submit_and_wait(client, generate_body("Warm the cache"))["status"] == "succeeded"
    # Deactivated by another process: no signal reaches the API's cache here,
    # so the API still accepts requests for it within PERSONALITY_CACHE_SECONDS.
    Personality.objects.filter(slug="nova").update(is_active=False)
    job = submit_and_wait(client, generate_body("Still there?"))

    assert job["status"] == "failed"
    assert job["error"] == {
        "code": "unknown_personality",
        "message": "The character 'nova' is no longer available.",
    }
    # Only the first request reached the provider.
    assert len(fake_openai.calls("chat")) == 1
