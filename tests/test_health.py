"""``GET /health`` against real servers and a real worker process."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client

from tzurot_project.embedded import EmbeddedRedis, free_port

from .conftest import Process, start_worker, wait_for


def get_health(client: Client) -> tuple[int, dict, float]:  # type: ignore[type-arg]
    started = time.monotonic()
    response = client.get("/health")
    return response.status_code, json.loads(response.content), time.monotonic() - started


def test_healthy_with_database_redis_and_a_worker(celery_worker_process: Process) -> None:
    status, body, _ = get_health(Client())
    assert status == 200, body
    assert body["status"] == "healthy"
    assert set(body["checks"]) == {"database", "redis", "worker"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["worker"]["workers"] >= 1


def test_no_worker_heartbeat_is_unhealthy(monkeypatch: pytest.MonkeyPatch, test_database_url: str) -> None:
    # A heartbeat set no worker writes to: as if no worker had ever started.
    monkeypatch.setattr("gateway.health.WORKERS_KEY", "tzurot:workers:none-in-this-test")
    status, body, _ = get_health(Client())
    assert status == 503
    assert body["failing"] == ["worker"]
    assert "no worker heartbeat" in body["checks"]["worker"]["error"]


@pytest.fixture
def own_redis() -> Iterator[EmbeddedRedis]:
    with tempfile.TemporaryDirectory(prefix="tzurot-redis-") as name:
        server = EmbeddedRedis(Path(name) / "data", free_port(), "health-test", persist=False)
        server.start()
        yield server
        server.stop()


def test_redis_down_is_reported_within_two_seconds_and_recovers(
    settings,
    own_redis: EmbeddedRedis,
    test_database_url: str,
    process_logs: Path,  # type: ignore[no-untyped-def]
) -> None:
    worker = start_worker(process_logs, test_database_url, redis_url=own_redis.url)
    try:
        settings.REDIS_URL = own_redis.url
        settings.WORKER_HEARTBEAT_INTERVAL = 1
        client = Client()
        status, body, _ = get_health(client)
        assert status == 200, body

        own_redis.stop()
        status, body, elapsed = get_health(client)
        assert status == 503
        assert "redis" in body["failing"]
        assert body["checks"]["redis"]["ok"] is False
        assert body["checks"]["database"]["ok"] is True
        assert elapsed < 2.0

        own_redis.start()  # same port, same password
        wait_for(
            lambda: get_health(client)[0] == 200,
            30,
            "health to recover after Redis restarted",
            worker,
            interval=0.5,
        )
    finally:
        worker.stop()


def test_database_down_is_reported_within_two_seconds(
    monkeypatch: pytest.MonkeyPatch, celery_worker_process: Process
) -> None:
    from django.db import connections

    # A port where nothing listens stands for a stopped database.
    monkeypatch.setitem(connections["default"].settings_dict, "PORT", str(free_port()))
    status, body, elapsed = get_health(Client())
    assert status == 503
    assert body["failing"] == ["database"]
    assert elapsed < 2.0
