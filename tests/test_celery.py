"""Celery through the real Redis broker and a real worker process (not eager mode)."""

from __future__ import annotations

from gateway.tasks import ping
from tzurot_project.celery import app

from .conftest import Process


def test_task_round_trips_through_redis_and_a_worker_process(celery_worker_process: Process) -> None:
    assert app.conf.task_always_eager is False
    result = ping.delay("hello").get(timeout=30)
    assert result["echo"] == "hello"
    assert result["worker"].startswith("test-"), "answered by the worker process, not in-process"


def test_celery_uses_json_and_time_limits_from_settings() -> None:
    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_time_limit > app.conf.task_soft_time_limit > 0
    assert app.conf.task_acks_late is False  # set per task, only where a rerun is safe
