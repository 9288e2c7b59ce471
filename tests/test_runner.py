"""The README's run command (`make run`), started for real as a subprocess."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tzurot_project.embedded import free_port

from .conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture
def run_dir() -> Iterator[Path]:
    # As root, the embedded PostgreSQL runs as its own user: it needs a traversable path.
    with tempfile.TemporaryDirectory(prefix="tzurot-run-") as name:
        Path(name).chmod(0o755)
        yield Path(name)


def run_command_env(var_dir: Path, web_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DISCORD_TOKEN")}
    env.update(
        TZUROT_VAR_DIR=str(var_dir),
        TZUROT_PORT=str(web_port),
        TZUROT_EMBEDDED_PG_PORT=str(free_port()),
        TZUROT_EMBEDDED_REDIS_PORT=str(free_port()),
    )
    return env


def start_run(run_dir: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    log = run_dir / "run.log"
    with open(log, "wb") as out:
        # A session of its own, like a terminal: Ctrl-C goes to the whole group.
        process = subprocess.Popen(
            ["make", "--no-print-directory", "run"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, log


def health(port: int) -> tuple[int, dict]:  # type: ignore[type-arg]
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=3) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {}
    except OSError:
        return 0, {}


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def gone(process: psutil.Process) -> bool:
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_run_command_starts_everything_and_ctrl_c_stops_everything(run_dir: Path) -> None:
    port = free_port()
    var_dir = run_dir / "var"
    process, log = start_run(run_dir, run_command_env(var_dir, port))
    try:
        deadline = time.monotonic() + 240
        while health(port)[0] != 200:
            assert process.poll() is None, f"run command exited early:\n{log.read_text()[-5000:]}"
            assert time.monotonic() < deadline, f"never healthy:\n{log.read_text()[-5000:]}"
            time.sleep(0.5)
        # Wait for the banner, printed once the runner saw health itself.
        while "Press Ctrl-C" not in log.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.2)

        children = descendants(process.pid)
        names = " ".join(" ".join(child.cmdline()) for child in children)
        assert "uvicorn" in names and "worker" in names and "beat" in names
        postgres_pid = int((var_dir / "pg" / "postmaster.pid").read_text().split()[0])
        valkey_pid = int((var_dir / "valkey" / "valkey.pid").read_text().strip())
        servers = [psutil.Process(postgres_pid), psutil.Process(valkey_pid)]
        output = log.read_text()
        assert f"http://127.0.0.1:{port}/api/docs/" in output
        assert f"http://127.0.0.1:{port}/admin/" in output
        assert "admin-password" in output
        assert "DISCORD_TOKEN is not set" in output

        os.killpg(process.pid, signal.SIGINT)
        process.wait(90)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    deadline = time.monotonic() + 10
    while not all(gone(p) for p in children + servers) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [p.pid for p in children + servers if not gone(p)]
    assert left == [], f"processes left running: {left}\n{log.read_text()[-3000:]}"
    assert "stopped" in log.read_text()


def test_run_command_exits_non_zero_naming_a_child_that_dies_at_start(run_dir: Path) -> None:
    # The web server cannot bind a port that is already taken, so it dies at start.
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        process, log = start_run(run_dir, run_command_env(run_dir / "var", port))
        try:
            code = process.wait(240)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    output = log.read_text()
    assert code != 0
    assert "the web process exited during start-up" in output
    assert "stopping the embedded servers" in output
