"""Fixtures shared by the whole suite: real servers and real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis
from django.conf import settings

from tests.admin_browser import admin_page, collected_static  # noqa: F401 - fixtures
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.tzurot_api import FakeTzurotApi
from tzurot_project.embedded import free_port
from tzurot_project.runner import worker_command

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    client.close()


@pytest.fixture(scope="session")
def test_database_url(django_db_setup: None) -> str:
    """A URL for the test database, for processes started by the tests."""
    from django.db import connection

    params = connection.settings_dict
    return (
        f"postgresql://{quote(params['USER'])}:{quote(params['PASSWORD'])}"
        f"@{params['HOST']}:{params['PORT']}/{params['NAME']}"
    )


def process_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["DJANGO_SETTINGS_MODULE"] = "tzurot_project.settings"
    env.update(overrides)
    return env


class Process:
    """A child process whose output is kept in a file, for failure messages."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, sig: int = 15, timeout: float = 20) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, 9)
                self.popen.wait(5)
        self._log.close()


def wait_for(predicate, timeout: float, what: str, process: Process | None = None, interval: float = 0.05):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        if process is not None and not process.alive():
            raise AssertionError(
                f"{process.name} exited while waiting for {what}:\n{process.output()[-4000:]}"
            )
        time.sleep(interval)
    detail = f"\n{process.output()[-4000:]}" if process else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}{detail}")


def start_worker(
    log_dir: Path, database_url: str, redis_url: str | None = None, extra: list[str] | None = None, **env: str
) -> Process:
    """A real Celery worker process on the test database, ready when this returns."""
    hostname = f"test-{uuid.uuid4().hex[:8]}@localhost"
    redis_url = redis_url or settings.REDIS_URL
    worker = Process(
        "worker",
        [
            *worker_command(sys.executable, hostname),
            "--without-gossip",
            "--without-mingle",
            *(extra or ["--pool", "threads", "-c", "8"]),
        ],
        process_env(DATABASE_URL=database_url, REDIS_URL=redis_url, WORKER_HEARTBEAT_INTERVAL="1", **env),
        log_dir,
    )
    client = redis.Redis.from_url(redis_url)
    try:
        wait_for(
            lambda: client.zscore("tzurot:workers", hostname), 60, "the worker's first heartbeat", worker
        )
    finally:
        client.close()
    return worker


@pytest.fixture(scope="session")
def process_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("process-logs")


@pytest.fixture(scope="session")
def celery_worker_process(
    test_database_url: str, process_logs: Path, _fake_openai_server: FakeOpenAI
) -> Iterator[Process]:
    # It lives for the whole session and so also takes generation tasks of
    # later tests: it gets the same provider settings as their own workers.
    from tests.gateway_helpers import worker_env

    worker = start_worker(process_logs, test_database_url, **worker_env(_fake_openai_server))
    yield worker
    worker.stop()


def start_api(log_dir: Path, database_url: str, **env: str) -> tuple[Process, str]:
    port = free_port()
    api = Process(
        "api",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tzurot_project.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--lifespan",
            "off",
            "--no-access-log",
        ],
        # Uploaded avatars' URLs are built on PUBLIC_BASE_URL: the server itself.
        process_env(**{"DATABASE_URL": database_url, "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", **env}),
        log_dir,
    )
    import socket

    def listening() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            return False
        return True

    wait_for(listening, 60, "the API server to listen", api)
    return api, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def live_api(test_database_url: str, process_logs: Path) -> Iterator[str]:
    """Base URL of a real uvicorn server running the project on the test database."""
    api, url = start_api(process_logs, test_database_url)
    yield url
    api.stop()


@pytest.fixture(scope="session")
def _fake_openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def fake_openai(_fake_openai_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """The loopback OpenAI-compatible server, reset for each test."""
    _fake_openai_server.reset()
    yield _fake_openai_server
    _fake_openai_server.reset()


@pytest.fixture
def fake_embedder(fake_openai: FakeOpenAI, settings: Any) -> Iterator[FakeOpenAI]:
    """The ``openai`` embedding backend on the loopback fake: deterministic vectors, no model to load."""
    settings.EMBEDDING_BACKEND = "openai"
    settings.EMBEDDING_MODEL = "fake-embedding"
    settings.EMBEDDING_BASE_URL = fake_openai.base_url
    settings.EMBEDDING_API_KEY = "sk-test-embeddings"
    settings.EMBEDDING_DIMENSIONS = 384
    yield fake_openai


@pytest.fixture(autouse=True)
def _forget_request_dedup() -> Iterator[None]:
    """Request fingerprints live in Redis for seconds; tests must not see each other's."""
    yield
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        keys = list(client.scan_iter("tzurot:dedup:*", count=1000))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass
    finally:
        client.close()


# -- the Discord bot: loopback fakes of Discord and of the Tzurot API ------------------------------


@pytest.fixture
def fake_discord() -> Iterator[FakeDiscord]:
    """A fresh loopback Discord (REST + gateway) for one test."""
    with FakeDiscord() as server:
        yield server


@pytest.fixture
def fake_tzurot_api() -> Iterator[FakeTzurotApi]:
    """A fresh loopback Tzurot API (the contract, programmable) for one test."""
    with FakeTzurotApi() as server:
        yield server
