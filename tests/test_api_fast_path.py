"""The API's fast path under a real uvicorn: the lean handler, waits that hold no thread.

Also the pieces behind it that are not reached through the test client: the
shared validation field tree, kombu's reused Redis client, per-thread
provider connection pools.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.message import Message
from pathlib import Path

import psutil
import pytest
from django.conf import settings
from django.utils import timezone

from gateway import providers
from gateway.events import publish_finished
from gateway.models import GenerationJob, JobStatus
from gateway.serializers import GenerateRequestSerializer
from gateway.services import job_public, token_create
from tests.conftest import Process, start_api

from .gateway_helpers import generate_body, make_personality

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def api(test_database_url: str, process_logs: Path) -> Iterator[tuple[Process, str]]:
    process, url = start_api(process_logs, test_database_url)
    yield process, url
    process.stop()


def call(
    url: str, method: str = "GET", body: object = None, token: str | None = None
) -> tuple[int, Message, bytes]:
    """Status, headers (case-insensitive) and body of one request."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_generate_through_uvicorn_answers_202_with_the_security_headers(api: tuple[Process, str]) -> None:
    make_personality()
    _, raw = token_create(name="fast", is_service=True)
    status, headers, body = call(f"{api[1]}/ai/generate", "POST", generate_body(), raw)
    assert status == 202, body
    assert json.loads(body)["status"] == "queued"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert int(headers["Content-Length"]) == len(body)
    assert "Transfer-Encoding" not in headers


def test_api_errors_keep_the_one_error_shape(api: tuple[Process, str]) -> None:
    status, _, body = call(f"{api[1]}/ai/generate", "POST", generate_body())
    assert status == 401 and json.loads(body)["error"]["code"] == "unauthenticated"
    status, headers, body = call(f"{api[1]}/ai/no-such-path")
    assert status == 404 and json.loads(body)["error"]["code"] == "not_found"
    assert headers["X-Frame-Options"] == "DENY"


def test_admin_still_goes_through_the_full_middleware(api: tuple[Process, str]) -> None:
    status, headers, body = call(f"{api[1]}/admin/login/")
    assert status == 200
    assert "csrftoken=" in (headers.get("Set-Cookie") or "")
    assert b"csrfmiddlewaretoken" in body


def test_waiting_requests_hold_no_thread_and_all_get_the_result(api: tuple[Process, str]) -> None:
    personality = make_personality()
    token, raw = token_create(name="waiter", is_service=True)
    # Jobs no worker will see (never published): they end only when we say so.
    jobs = [
        GenerationJob.objects.create(
            id=uuid.uuid4(),
            request_id=uuid.uuid4(),
            fingerprint=uuid.uuid4().hex,
            personality=personality,
            token=token,
            user_id="111",
            message=f"wait {i}",
        )
        for i in range(60)
    ]
    server = psutil.Process(api[0].popen.pid)
    call(f"{api[1]}/ai/jobs/{jobs[0].id}", token=raw)  # warm up: the pool's threads exist
    threads_before = server.num_threads()
    results: dict[str, tuple[int, dict[str, object]]] = {}

    def wait_for(job: GenerationJob) -> None:
        status, _, body = call(f"{api[1]}/ai/jobs/{job.id}?wait=20", token=raw)
        results[str(job.id)] = (status, json.loads(body))

    with ThreadPoolExecutor(max_workers=len(jobs)) as clients:
        for job in jobs:
            clients.submit(wait_for, job)
        threading.Event().wait(3)  # every request has reached its wait
        assert not results, "a wait ended before its job did"
        threads_waiting = server.num_threads()
        for job in jobs:
            GenerationJob.objects.filter(id=job.id).update(
                status=JobStatus.SUCCEEDED, result_content="done", finished_at=timezone.now()
            )
            publish_finished(str(job.id), job_public(GenerationJob.objects.get(id=job.id)))
    # Sixty waits; the only threads started are the bounded pool's (API_DB_THREADS).
    assert threads_waiting - threads_before <= settings.API_DB_THREADS, (threads_before, threads_waiting)
    assert len(results) == len(jobs)
    assert all(status == 200 and body["status"] == "succeeded" for status, body in results.values())


def test_validation_shares_fields_but_not_errors() -> None:
    bad = GenerateRequestSerializer(data=generate_body(message=""))
    good = GenerateRequestSerializer(data=generate_body())
    assert not bad.is_valid()
    assert good.is_valid(), good.errors
    assert "message" in bad.errors and not good.errors
    assert good.validated_data["message"] == "Hello there"
    assert bad.fields is good.fields  # one tree, built once
    with pytest.raises(TypeError):
        GenerateRequestSerializer(data={}, context={"request": None})


def test_the_broker_connection_reuses_one_redis_client() -> None:
    from tzurot_project.celery import app

    with app.connection_for_write() as connection:
        channel = connection.default_channel
        assert type(connection.transport).__module__ == "tzurot_project.kombu_redis"
        assert channel._create_client() is channel._create_client()
        assert channel._create_client(asynchronous=True) is not channel._create_client()
        channel.client.ping()


def test_each_thread_has_its_own_provider_pool_and_clients() -> None:
    here = providers.client_for("http://127.0.0.1:9/v1", "sk-a")
    assert providers.client_for("http://127.0.0.1:9/v1", "sk-a") is here
    assert providers.client_for("http://127.0.0.1:9/v1", "sk-b") is not here
    found: list[object] = []
    thread = threading.Thread(
        target=lambda: found.extend(
            [
                providers.client_for("http://127.0.0.1:9/v1", "sk-a"),
                providers._http(),
                providers._tls_context(),
            ]
        )
    )
    thread.start()
    thread.join()
    assert found[0] is not here
    assert found[1] is not providers._http()
    assert found[2] is providers._tls_context()  # certificates loaded once per process
