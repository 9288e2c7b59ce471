"""Generation-gateway benchmarks, Tzurot against the reference (Express + BullMQ), same run.

What it measures (one subcommand each; ``all`` runs them in this order):

* ``throughput``: ``POST /ai/generate`` with wrk (2 threads, a unique message per
  request so dedup never answers) at 32 and 64 connections for ``--duration``
  seconds each, a worker running and consuming every job (ours: Celery, threads
  pool, 200, instant fake provider; the reference: its BullMQ worker at its
  default concurrency 50 with ``LLM_DELAY_MS=0``). req/s, p50/p90/p99, CPU
  seconds per request of each process. The backlog is drained between passes.
* ``overhead``: request to result available, one client, one keep-alive
  connection, jobs one after another, instant provider. Ours: ``POST`` then
  ``GET /ai/jobs/{id}?wait=30``; the reference: its own ``e2e_latency.py``
  (``POST`` then polling every 2 ms).
* ``inflight``: 5,000 jobs against a provider that takes 2 s per call, one
  worker process (ours: threads pool, concurrency 200; the reference:
  ``WORKER_CONCURRENCY=200 LLM_DELAY_MS=2000``), measured with the
  reference's own ``worker_tput.py`` for it. Two modes: ``enqueue`` (the
  reference script's default: 4 keep-alive connections submit while the
  worker runs, so the web server's rate bounds the figure) and ``drain`` (the
  jobs are queued first, then the worker starts: the worker's own capacity).
  Completed jobs per second (overall, and steady between the 10 % and 90 %
  marks) and the worker's peak RSS (process and children, every 100 ms).
  Memory is off (as for every figure) unless ``--memory on``: then each job
  also recalls memories (the query embedded by the local model, the hybrid
  search) and schedules a memory write, as a personality with memory does.
* ``waiters``: 1,000 clients on ``GET /ai/jobs/{id}?wait=30`` at once against ONE
  web process (queued jobs, no worker; the worker is started once every client
  is waiting). Every client must get its finished job; delivery latency is the
  client's receive time minus the job's stored ``finished_at`` (and minus the
  moment a subscriber saw the completion published). Web process RSS before
  and at peak. The reference has no long-poll, so this figure has no ratio.
* ``floor`` (not part of ``all``; run with ``--systems reference``): the same
  wrk load against do-nothing apps on our stack, beside the reference: a bare
  ASGI function under uvicorn, and the lean Django API handler with an adrf
  view that validates with the real ``GenerateRequestSerializer`` (and once
  without validating) and answers 202 with no token, Redis, database or
  worker (``bench/floor``). It bounds what any gateway on this stack can do.

Everything it needs is started here, on loopback, under a temporary directory
(chmod 755: as root PostgreSQL runs as its own user): ours, an embedded
PostgreSQL and Valkey (``EmbeddedServers``), migrations, a personality and a
service token, uvicorn, a Celery worker, the fake provider
(``bench/fake_provider.py``); the reference, a copy of
``../shared/reference-gateway`` with ``npm ci``, its own Valkey (same binary,
no persistence), ``node server.js`` and ``node worker.js``. Both systems run
side by side; passes alternate (ours, reference, ours, ...) and figures are
medians of the passes, with ratios ours/reference from the same run.

Needs ``wrk`` (``apt-get install -y wrk``) and ``node``/``npm``.

Command (all figures in BENCHMARKS.md, about 25 minutes on 2 cores):

    .venv/bin/python bench/gateway_bench.py all --passes 3 --json bench/results/all.json

One figure: ``.venv/bin/python bench/gateway_bench.py throughput --passes 3``.
Options: ``--web-workers N`` (uvicorn processes for ours; default: what
``make run`` uses), ``--systems ours,reference``, ``--duration 15``,
``--ref-dir DIR`` (a prepared copy with node_modules, to skip ``npm ci``),
``--memory on`` (the bench personality with long-term memory; the second
in-flight figure is ``inflight --memory on --systems ours --inflight-modes
drain``), ``--keep`` (leave the temporary directory for its logs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import math
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tzurot_project.embedded import EmbeddedServers, _valkey_binary, free_port  # noqa: E402

REF_SRC = ROOT.parent / "shared" / "reference-gateway"
BENCH = ROOT / "bench"
PERSONALITY = "bench"
WRK_THREADS = 2
WARMUP_SECONDS = 3


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (as the reference's scripts compute it)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100.0 * len(ordered)) - 1)]


def median(values: list[float]) -> float:
    values = [v for v in values if v == v]  # drop NaN
    return statistics.median(values) if values else float("nan")


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


# -- processes -------------------------------------------------------------------------


class Child:
    """A process in its own group, output to a log file, stopped with its children."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logs: Path, cwd: Path = ROOT) -> None:
        self.name = name
        self.log_path = logs / f"{name}-{uuid.uuid4().hex[:4]}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def check(self) -> None:
        if not self.alive():
            raise RuntimeError(f"{self.name} exited ({self.popen.returncode}):\n{self.tail()}")

    def stop(self, timeout: float = 15) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        self._log.close()


def tree(pid: int) -> list[psutil.Process]:
    try:
        proc = psutil.Process(pid)
        return [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_rss(pid: int) -> int:
    total = 0
    for proc in tree(pid):
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


def tree_cpu(pid: int) -> float:
    total = 0.0
    for proc in tree(pid):
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            # children_*: descendants that have exited (and were waited for).
            total += times.user + times.system + times.children_user + times.children_system
    return total


class RssSampler:
    """Peak resident memory of a process tree, sampled every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.start_rss = tree_rss(pid)
        self.peak = self.start_rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, tree_rss(self.pid))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss(self.pid))
        return self.peak


def mib(n: float) -> float:
    return round(n / 1048576, 1)


# -- the systems -------------------------------------------------------------------------


class Ours:
    name = "ours"

    def __init__(self, root: Path, logs: Path, web_workers: int, memory: bool = False) -> None:
        self.memory = memory
        self.root = root
        self.logs = logs
        self.web_workers = web_workers
        self.servers = EmbeddedServers(
            root / "servers",
            postgres=(free_port(), secrets.token_hex(16)),
            redis=(free_port(), secrets.token_hex(16)),
            persist=False,
        )
        self.env: dict[str, str] = {}
        self.token = ""
        self.fake: Child | None = None
        self.fake_url = ""
        self.web: Child | None = None
        self.url = ""
        self.worker: Child | None = None
        self.redis: Any = None

    def start(self) -> None:
        say("ours: starting PostgreSQL and Valkey")
        self.servers.start()
        assert self.servers.postgres and self.servers.redis
        self.env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "tzurot_project.settings",
            "DATABASE_URL": self.servers.postgres.url,
            "REDIS_URL": self.servers.redis.url,
            "TZUROT_VAR_DIR": str(self.root / "var"),
            "LLM_API_KEY": "sk-bench-operator-key",
            "LLM_BACKOFF_BASE": "0.05",
        }
        say("ours: migrating")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=self.env,
            check=True,
        )
        # The orchestrator itself reads the database (finished_at) through Django.
        os.environ.update({k: self.env[k] for k in ("DATABASE_URL", "REDIS_URL", "TZUROT_VAR_DIR")})
        os.environ["DJANGO_SETTINGS_MODULE"] = "tzurot_project.settings"
        os.environ["DATABASE_POOL_MAX_SIZE"] = "0"
        import django

        django.setup()
        import redis

        from gateway.services import token_create
        from personalities_app.models import Personality

        Personality.objects.update_or_create(
            slug=PERSONALITY,
            defaults={
                "name": "Bench",
                "system_prompt": "You are Bench, a terse assistant.",
                "traits": "Brief.",
                # Long-term memory (recall before, a memory write after each
                # reply): off unless --memory on; the reference has none.
                "memory_enabled": self.memory,
            },
        )
        _, self.token = token_create(name="bench", is_service=True)
        self.redis = redis.Redis.from_url(self.servers.redis.url)

    def start_fake(self, delay: float) -> None:
        if self.fake:
            self.fake.stop()
        self.fake = Child(
            "fake-provider",
            [sys.executable, str(BENCH / "fake_provider.py"), "--delay", str(delay)],
            self.env,
            self.logs,
        )

        def ready() -> int | None:
            self.fake.check()  # type: ignore[union-attr]
            match = re.search(r"READY (\d+)", self.fake.tail())  # type: ignore[union-attr]
            return int(match.group(1)) if match else None

        port = wait_until(ready, 30, "the fake provider")
        self.fake_url = f"http://127.0.0.1:{port}/v1"
        self.env["LLM_BASE_URL"] = self.fake_url

    def start_web(self, workers: int | None = None) -> None:
        if self.web:
            self.web.stop()
        workers = workers or self.web_workers
        port = free_port()
        from tzurot_project.runner import web_command

        self.web = Child(
            "web", web_command(sys.executable, "127.0.0.1", port, workers=workers), self.env, self.logs
        )
        self.url = f"http://127.0.0.1:{port}"

        def answering() -> bool:
            self.web.check()  # type: ignore[union-attr]
            if not port_open(port):
                return False
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                conn.request("GET", "/health")
                conn.getresponse().read()
            except OSError:
                return False
            finally:
                conn.close()
            return True

        wait_until(answering, 60, "the web server", interval=0.2)
        say(f"ours: web on {self.url} ({workers} process{'es' if workers > 1 else ''})")

    def start_worker(self) -> None:
        self.stop_worker()
        from tzurot_project.runner import worker_command

        hostname = f"bench-{uuid.uuid4().hex[:6]}@localhost"
        self.worker = Child("worker", worker_command(sys.executable, hostname), self.env, self.logs)

        def beating() -> bool:
            self.worker.check()  # type: ignore[union-attr]
            return self.redis.zscore("tzurot:workers", hostname) is not None

        wait_until(beating, 60, "the Celery worker's first heartbeat", interval=0.1)

    def stop_worker(self) -> None:
        if self.worker:
            self.worker.stop()
            self.worker = None

    def backlog(self) -> int:
        return int(self.redis.llen("celery")) + int(self.redis.hlen("unacked"))

    def components(self) -> dict[str, int]:
        assert self.servers.postgres and self.servers.redis
        found = {
            "web": self.web.pid if self.web else 0,
            "worker": self.worker.pid if self.worker else 0,
            "provider": self.fake.pid if self.fake else 0,
            "postgres": self.servers.postgres.running_pid() or 0,
            "valkey": self.servers.redis.pid or 0,
        }
        return {k: v for k, v in found.items() if v}

    def stop(self) -> None:
        for child in (self.web, self.worker, self.fake):
            if child:
                child.stop()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        self.servers.stop()


class Reference:
    name = "reference"

    def __init__(self, root: Path, logs: Path, src: Path, prepared: Path | None) -> None:
        self.logs = logs
        self.src = src
        self.dir = prepared or root / "reference"
        self.prepared = prepared is not None
        self.redis_port = free_port()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}"
        self.valkey: Child | None = None
        self.server: Child | None = None
        self.worker: Child | None = None
        self.redis: Any = None

    def start(self) -> None:
        if not self.prepared:
            say(f"reference: copying {self.src} and running npm ci")
            shutil.copytree(self.src, self.dir, ignore=shutil.ignore_patterns("node_modules"))
            for path in [self.dir, *self.dir.rglob("*")]:
                path.chmod(path.stat().st_mode | 0o200)
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--loglevel", "error"],
                cwd=self.dir,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        env = dict(os.environ)
        self.valkey = Child(
            "ref-valkey",
            [
                _valkey_binary(),
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.logs),
            ],
            env,
            self.logs,
        )
        wait_until(lambda: port_open(self.redis_port), 15, "the reference's Valkey")
        import redis

        self.redis = redis.Redis(port=self.redis_port)
        self.server = Child(
            "ref-server",
            ["node", "server.js"],
            {**env, "REDIS_URL": self.redis_url, "PORT": str(self.port)},
            self.logs,
            cwd=self.dir,
        )
        wait_until(lambda: self.server.check() or port_open(self.port), 30, "the reference server")  # type: ignore[union-attr]
        say(f"reference: server on {self.url}")

    def start_worker(self, concurrency: int = 50, delay_ms: int = 0) -> None:
        self.stop_worker()
        self.worker = Child(
            "ref-worker",
            ["node", "worker.js"],
            {
                **os.environ,
                "REDIS_URL": self.redis_url,
                "WORKER_CONCURRENCY": str(concurrency),
                "LLM_DELAY_MS": str(delay_ms),
            },
            self.logs,
            cwd=self.dir,
        )
        wait_until(
            lambda: self.worker.check() or "reference worker pid" in self.worker.tail(), 30, "the worker"
        )  # type: ignore[union-attr]
        time.sleep(0.5)  # its connection to Redis

    def stop_worker(self) -> None:
        if self.worker:
            self.worker.stop()
            self.worker = None

    def backlog(self) -> int:
        return int(self.redis.llen("bull:ai-requests:wait")) + int(self.redis.llen("bull:ai-requests:active"))

    def components(self) -> dict[str, int]:
        found = {
            "web": self.server.pid if self.server else 0,
            "worker": self.worker.pid if self.worker else 0,
            "valkey": self.valkey.pid if self.valkey else 0,
        }
        return {k: v for k, v in found.items() if v}

    def stop(self) -> None:
        for child in (self.server, self.worker, self.valkey):
            if child:
                child.stop()


System = Ours | Reference


def drain(system: System, limit: float = 240) -> float:
    """Wait until the system's queue is empty; returns the seconds it took."""
    started = time.monotonic()
    last_report = started
    while system.backlog() > 0:
        if time.monotonic() - started > limit:
            say(f"{system.name}: backlog of {system.backlog()} not drained after {limit:.0f} s; going on")
            break
        if time.monotonic() - last_report > 10:
            say(f"{system.name}: draining, {system.backlog()} jobs left")
            last_report = time.monotonic()
        time.sleep(0.2)
    return time.monotonic() - started


# -- throughput ---------------------------------------------------------------------------


def run_wrk(system: System, lua: Path, connections: int, seconds: float) -> dict[str, Any]:
    env = dict(os.environ)
    if isinstance(system, Ours):
        env["TZUROT_TOKEN"] = system.token
        env["TZUROT_PERSONALITY"] = PERSONALITY
    argv = [
        "wrk",
        f"-t{WRK_THREADS}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--latency",
        "-s",
        str(lua),
        system.url,
    ]
    pids = system.components()
    cpu_before = {name: tree_cpu(pid) for name, pid in pids.items()}
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    samplers = {name: RssSampler(pid, 0.5) for name, pid in pids.items() if name in ("web", "worker")}
    out = subprocess.run(
        argv, env=env, capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    rss = {f"{name}_rss_mib": mib(s.stop()) for name, s in samplers.items()}
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    match = re.search(r"^SUMMARY (.*)$", out, re.M)
    if not match:
        raise RuntimeError(f"wrk printed no SUMMARY:\n{out}")
    result: dict[str, Any] = {k: float(v) for k, v in (kv.split("=") for kv in match.group(1).split())}
    requests = max(result["requests"], 1)
    # CPU milliseconds per request, by component (the work behind one accepted request).
    cpu = {name: tree_cpu(pid) - cpu_before[name] for name, pid in pids.items()}
    cpu["wrk"] = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    result["cpu_ms_per_request"] = {name: round(1000 * v / requests, 3) for name, v in cpu.items()}
    result["cpu_cores_busy"] = round(sum(cpu.values()) / seconds, 2)
    result.update(rss)
    return result


def throughput(systems: list[System], args: argparse.Namespace) -> dict[str, Any]:
    connections = [int(c) for c in args.connections.split(",")]
    for system in systems:
        if isinstance(system, Ours):
            system.start_fake(0.0)
            system.start_web()
            system.start_worker()
        else:
            system.start_worker(concurrency=50, delay_ms=0)
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {s.name: {c: [] for c in connections} for s in systems}
    for n in range(1, args.passes + 1):
        for system in systems:
            lua = BENCH / "generate.lua" if isinstance(system, Ours) else system.dir / "generate.lua"
            run_wrk(system, lua, 32, WARMUP_SECONDS)  # warm-up, as the reference's load.sh does
            drain(system)
            for c in connections:
                result = run_wrk(system, lua, c, args.duration)
                result["drain_s"] = round(drain(system), 1)
                runs[system.name][c].append(result)
                say(
                    f"throughput pass {n} {system.name} c={c}: {result['rps']:.0f} req/s "
                    f"p50 {result['p50_ms']:.1f} ms p99 {result['p99_ms']:.1f} ms "
                    f"non2xx {result['non2xx']:.0f} errors {result['sock_err']:.0f}; "
                    f"CPU ms/request {result['cpu_ms_per_request']}; backlog drained in {result['drain_s']} s"
                )
    for system in systems:
        system.stop_worker()
    summary: dict[str, Any] = {"runs": runs, "median": {}}
    for system in systems:
        for c in connections:
            passes = runs[system.name][c]
            summary["median"].setdefault(system.name, {})[c] = {
                key: median([p[key] for p in passes]) for key in ("rps", "p50_ms", "p90_ms", "p99_ms")
            }
    return summary


# -- overhead -------------------------------------------------------------------------------


def overhead_ours(system: Ours, jobs: int) -> dict[str, Any]:
    host, port = system.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {system.token}"}
    run = uuid.uuid4().hex[:8]
    totals: list[float] = []
    posts: list[float] = []
    for i in range(jobs):
        body = json.dumps(
            {
                "personality": PERSONALITY,
                "message": f"e2e-{run}-{i} what is the weather like on mars today?",
                "context": {"user_id": "1", "channel_id": "2", "user_name": "e2e"},
            }
        )
        started = time.perf_counter()
        conn.request("POST", "/ai/generate", body=body, headers=headers)
        response = conn.getresponse()
        submitted = json.loads(response.read())
        if response.status != 202:
            raise RuntimeError(f"POST answered {response.status}: {submitted}")
        posted = time.perf_counter()
        conn.request("GET", f"/ai/jobs/{submitted['job_id']}?wait=30", headers=headers)
        response = conn.getresponse()
        job = json.loads(response.read())
        if job.get("status") != "succeeded":
            raise RuntimeError(f"job did not succeed: {job}")
        totals.append((time.perf_counter() - started) * 1000)
        posts.append((posted - started) * 1000)
    conn.close()
    return {
        "median_ms": median(totals),
        "p90_ms": pct(totals, 90),
        "p99_ms": pct(totals, 99),
        "max_ms": max(totals),
        "post_median_ms": median(posts),
        "post_p99_ms": pct(posts, 99),
    }


def overhead_reference(system: Reference, jobs: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(system.dir / "e2e_latency.py"), system.url, str(jobs), "2"],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout
    found = dict(re.findall(r"(\w+)=([\d.]+)ms", out))
    return {
        "median_ms": float(found["median"]),
        "p90_ms": float(found["p90"]),
        "p99_ms": float(found["p99"]),
        "max_ms": float(found["max"]),
    }


def overhead(systems: list[System], args: argparse.Namespace) -> dict[str, Any]:
    for system in systems:
        if isinstance(system, Ours):
            system.start_fake(0.0)
            system.start_web()
            system.start_worker()
        else:
            system.start_worker(concurrency=50, delay_ms=0)
    runs: dict[str, list[dict[str, Any]]] = {s.name: [] for s in systems}
    for n in range(1, args.passes + 1):
        for system in systems:
            drain(system)
            if isinstance(system, Ours):
                result = overhead_ours(system, args.jobs)
            else:
                result = overhead_reference(system, args.jobs)
            runs[system.name].append(result)
            say(
                f"overhead pass {n} {system.name}: median {result['median_ms']:.2f} ms "
                f"p99 {result['p99_ms']:.2f} ms (n={args.jobs})"
            )
    for system in systems:
        system.stop_worker()
    return {
        "runs": runs,
        "median": {
            name: {k: median([p[k] for p in passes]) for k in ("median_ms", "p90_ms", "p99_ms")}
            for name, passes in runs.items()
        },
    }


# -- in-flight capacity ---------------------------------------------------------------------


def submit_many(url: str, token: str | None, bodies: list[bytes], connections: int = 4) -> list[str]:
    """POST every body over ``connections`` keep-alive connections; returns the job ids."""
    host, port = url.removeprefix("http://").split(":")
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    ids: list[str] = [""] * len(bodies)
    errors: list[str] = []

    def post(lo: int, hi: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        for i in range(lo, hi):
            conn.request("POST", "/ai/generate", body=bodies[i], headers=headers)
            response = conn.getresponse()
            data = json.loads(response.read())
            if response.status != 202:
                errors.append(f"{response.status} {data}")
                continue
            ids[i] = data.get("job_id") or data.get("jobId") or ""
        conn.close()

    n = len(bodies)
    threads = [
        threading.Thread(target=post, args=(n * j // connections, n * (j + 1) // connections))
        for j in range(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} submissions failed, e.g. {errors[:3]}")
    return ids


def _tput_bodies(jobs: int, reference: bool) -> list[bytes]:
    run = uuid.uuid4().hex[:8]
    if reference:  # the reference's body shape, as its worker_tput.py sends it
        return [
            json.dumps(
                {
                    "personality": "albert",
                    "message": f"tput-{run}-{i} write me a haiku about queues",
                    "context": {"userId": "u1", "channelId": "c-tput", "userName": "tput"},
                }
            ).encode()
            for i in range(jobs)
        ]
    return [
        json.dumps(
            {
                "personality": PERSONALITY,
                "message": f"tput-{run}-{i} write me a haiku about queues",
                "context": {"user_id": "1", "channel_id": "3", "user_name": "tput"},
            }
        ).encode()
        for i in range(jobs)
    ]


def inflight_ours(system: Ours, jobs: int, mode: str) -> dict[str, Any]:
    """``enqueue``: submit while the worker runs; ``drain``: queue first, then start the worker."""
    bodies = _tput_bodies(jobs, reference=False)
    system.stop_worker()
    if mode == "drain":
        submit_many(system.url, system.token, bodies)
    pubsub = system.redis.pubsub(ignore_subscribe_messages=True)
    pubsub.psubscribe("tzurot:job:*")
    wait_until(lambda: pubsub.get_message(timeout=0.1) is None, 5, "the subscription")
    system.start_worker()
    assert system.worker
    sampler = RssSampler(system.worker.pid)
    outcome: dict[str, int] = {}
    marks: dict[str, Any] = {}
    started = time.perf_counter()
    submitter = None
    if mode == "enqueue":
        submitter = threading.Thread(
            target=lambda: marks.__setitem__("ids", submit_many(system.url, system.token, bodies)),
            daemon=True,
        )
        submitter.start()
    last_change = started
    done = 0
    while done < jobs:
        message = pubsub.get_message(timeout=0.5)
        now = time.perf_counter()
        if message and message["type"] == "pmessage":
            status = json.loads(message["data"])["status"]
            outcome[status] = outcome.get(status, 0) + 1
            done += 1
            last_change = now
            if done >= 0.1 * jobs and "t10" not in marks:
                marks["t10"], marks["n10"] = now, done
            if done >= 0.9 * jobs and "t90" not in marks:
                marks["t90"], marks["n90"] = now, done
        if submitter is not None and "enqueued" not in marks and not submitter.is_alive():
            marks["enqueued"] = now
        if now - last_change > 30:
            say(f"ours: no completion for 30 s, stopping at {done}/{jobs}")
            break
    total = time.perf_counter() - started
    if submitter is not None:
        submitter.join()
    peak = sampler.stop()
    pubsub.close()
    system.stop_worker()
    steady = (marks["n90"] - marks["n10"]) / (marks["t90"] - marks["t10"]) if "t90" in marks else float("nan")
    result = {
        "completed": outcome.get("succeeded", 0),
        "failed": outcome.get("failed", 0),
        "wall_s": round(total, 2),
        "overall_jobs_s": round(done / total, 1),
        "steady_jobs_s": round(steady, 1),
        "worker_peak_rss_mib": mib(peak),
        "worker_start_rss_mib": mib(sampler.start_rss),
    }
    if "enqueued" in marks:
        result["enqueue_s"] = round(marks["enqueued"] - started, 2)
    return result


def inflight_reference(system: Reference, jobs: int, mode: str) -> dict[str, Any]:
    system.stop_worker()
    if mode == "drain":
        submit_many(system.url, None, _tput_bodies(jobs, reference=True))
    system.start_worker(concurrency=200, delay_ms=2000)
    assert system.worker
    sampler = RssSampler(system.worker.pid)
    argv = [
        sys.executable,
        str(system.dir / "worker_tput.py"),
        system.url,
        str(jobs if mode == "enqueue" else 0),
    ]
    out = subprocess.run(
        [*argv, system.redis_url], capture_output=True, text=True, check=True, timeout=900
    ).stdout
    peak = sampler.stop()
    system.stop_worker()
    found = dict(re.findall(r"(\w+(?:\(10-90%\))?)=([\d.]+)", out))
    result = {
        "completed": int(float(found["completed"])),
        "failed": int(float(found["failed"])),
        "wall_s": float(found["wall"]),
        "overall_jobs_s": float(found["overall"]),
        "steady_jobs_s": float(found["steady(10-90%)"]),
        "worker_peak_rss_mib": mib(peak),
        "worker_start_rss_mib": mib(sampler.start_rss),
    }
    enqueue = re.search(r"enqueue=([\d.]+)s", out)
    if enqueue:
        result["enqueue_s"] = float(enqueue.group(1))
    return result


def inflight(systems: list[System], args: argparse.Namespace) -> dict[str, Any]:
    modes = args.inflight_modes.split(",")
    for system in systems:
        if isinstance(system, Ours):
            system.start_fake(args.delay)
            system.start_web()
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {s.name: {m: [] for m in modes} for s in systems}
    for n in range(1, args.passes + 1):
        for mode in modes:
            for system in systems:
                drain(system)
                if isinstance(system, Ours):
                    result = inflight_ours(system, args.jobs, mode)
                else:
                    result = inflight_reference(system, args.jobs, mode)
                runs[system.name][mode].append(result)
                say(
                    f"inflight pass {n} [{mode}] {system.name}: {result['completed']}/{args.jobs} completed "
                    f"({result['failed']} failed), overall {result['overall_jobs_s']} jobs/s, "
                    f"steady {result['steady_jobs_s']} jobs/s, "
                    f"worker peak RSS {result['worker_peak_rss_mib']} MiB, "
                    f"enqueue {result.get('enqueue_s', '-')} s"
                )
    keys = ("overall_jobs_s", "steady_jobs_s", "worker_peak_rss_mib")
    return {
        "runs": runs,
        "median": {
            name: {f"{mode} {k}": median([p[k] for p in by_mode[mode]]) for mode in modes for k in keys}
            for name, by_mode in runs.items()
        },
    }


# -- waiters ----------------------------------------------------------------------------------


@dataclass
class Waited:
    job_id: str
    sent: float = 0.0
    received: float = 0.0
    status: int = 0
    body: dict[str, Any] = field(default_factory=dict)


async def _wait_one(host: str, port: int, token: str, waited: Waited, connect: asyncio.Semaphore) -> None:
    async with connect:
        reader, writer = await asyncio.open_connection(host, port)
    request = (
        f"GET /ai/jobs/{waited.job_id}?wait=30 HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    writer.write(request.encode())
    await writer.drain()
    waited.sent = time.time()
    first = await reader.read(1)
    waited.received = time.time()
    rest = await reader.read()
    writer.close()
    head, _, body = (first + rest).partition(b"\r\n\r\n")
    waited.status = int(head.split(b" ", 2)[1])
    if b"chunked" in head.lower():
        raise RuntimeError("unexpected chunked response")
    waited.body = json.loads(body)


async def _waiters(
    system: Ours, job_ids: list[str], settle: float
) -> tuple[list[Waited], dict[str, float], float]:
    import redis.asyncio as aioredis

    host, port = system.url.removeprefix("http://").split(":")
    published: dict[str, float] = {}
    subscriber = aioredis.Redis.from_url(system.env["REDIS_URL"])
    pubsub = subscriber.pubsub()
    await pubsub.psubscribe("tzurot:job:*")

    async def listen() -> None:
        async for message in pubsub.listen():
            if message["type"] == "pmessage":
                published[message["channel"].decode().rsplit(":", 1)[1]] = time.time()

    listener = asyncio.create_task(listen())
    connect = asyncio.Semaphore(100)
    waited = [Waited(job_id) for job_id in job_ids]
    tasks = [asyncio.create_task(_wait_one(host, int(port), system.token, w, connect)) for w in waited]
    while any(w.sent == 0 for w in waited):
        await asyncio.sleep(0.05)
        if any(t.done() and t.exception() for t in tasks):
            break
    say(f"waiters: all {len(waited)} requests sent; letting the server register them for {settle:.0f} s")
    await asyncio.sleep(settle)
    early = sum(1 for w in waited if w.received)
    worker_started = time.time()
    await asyncio.get_running_loop().run_in_executor(None, system.start_worker)
    say(f"waiters: worker started ({early} answered before it did)")
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    await asyncio.sleep(0.2)
    listener.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await listener
    await pubsub.aclose()
    await subscriber.aclose()
    return waited, published, worker_started


def waiters_ours(system: Ours, clients: int, settle: float) -> dict[str, Any]:
    from gateway.models import GenerationJob

    system.stop_worker()
    run = uuid.uuid4().hex[:8]
    bodies = [
        json.dumps(
            {
                "personality": PERSONALITY,
                "message": f"wait-{run}-{i} are you there?",
                "context": {"user_id": "1", "channel_id": "4", "user_name": "waiter"},
            }
        ).encode()
        for i in range(clients)
    ]
    job_ids = submit_many(system.url, system.token, bodies)
    assert system.web
    sampler = RssSampler(system.web.pid)
    waited, published, worker_started = asyncio.run(_waiters(system, job_ids, settle))
    peak = sampler.stop()
    system.stop_worker()
    finished = {
        str(job_id): at.timestamp()
        for job_id, at in GenerationJob.objects.filter(id__in=job_ids).values_list("id", "finished_at")
        if at
    }
    got = [w for w in waited if w.status == 200 and w.body.get("status") == "succeeded"]
    after_finish = [(w.received - finished[w.job_id]) * 1000 for w in got if w.job_id in finished]
    after_publish = [(w.received - published[w.job_id]) * 1000 for w in got if w.job_id in published]
    return {
        "clients": clients,
        "succeeded": len(got),
        "answered_before_worker": sum(1 for w in waited if w.received and w.received < worker_started),
        "delivery_after_finished_at_p50_ms": round(median(after_finish), 2),
        "delivery_after_finished_at_p99_ms": round(pct(after_finish, 99), 2),
        "delivery_after_finished_at_max_ms": round(max(after_finish), 2) if after_finish else None,
        "delivery_after_publish_p50_ms": round(median(after_publish), 2),
        "delivery_after_publish_p99_ms": round(pct(after_publish, 99), 2),
        "web_rss_before_mib": mib(sampler.start_rss),
        "web_rss_peak_mib": mib(peak),
    }


def waiters(systems: list[System], args: argparse.Namespace) -> dict[str, Any]:
    ours = next((s for s in systems if isinstance(s, Ours)), None)
    if ours is None:
        return {"note": "only measured for ours: the reference has no long-poll"}
    ours.start_fake(0.0)
    ours.start_web(workers=1)  # the target is about ONE web process
    runs = []
    for n in range(1, args.passes + 1):
        result = waiters_ours(ours, args.clients, args.settle)
        runs.append(result)
        say(f"waiters pass {n}: {json.dumps(result)}")
    keys = [k for k, v in runs[0].items() if isinstance(v, float)]
    return {"runs": runs, "median": {"ours": {k: median([r[k] for r in runs]) for k in keys}}}


# -- main ---------------------------------------------------------------------------------------


# -- floor: the framework alone -------------------------------------------------------------


class Floor:
    """A do-nothing app under uvicorn with our command line: the most any server on that stack can do."""

    def __init__(self, name: str, app: str, logs: Path, workers: int, **env: str) -> None:
        self.name, self.app, self.logs, self.workers, self.extra_env = name, app, logs, workers, env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.web: Child | None = None

    def start(self) -> None:
        from tzurot_project.runner import web_command

        argv = web_command(sys.executable, "127.0.0.1", self.port, workers=self.workers)
        argv[argv.index("tzurot_project.asgi:application")] = self.app
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.floor.settings",
            # Parsed, never connected to: the floor views touch neither.
            "DATABASE_URL": "postgres://floor@127.0.0.1:9/floor",
            "REDIS_URL": "redis://127.0.0.1:9/0",
            "TZUROT_VAR_DIR": str(self.logs / f"{self.name}-var"),
            **self.extra_env,
        }
        self.web = Child(self.name, argv, env, self.logs)
        wait_until(lambda: self.web.check() or port_open(self.port), 60, self.name)  # type: ignore[union-attr]

    def backlog(self) -> int:
        return 0

    def components(self) -> dict[str, int]:
        return {"web": self.web.pid} if self.web else {}

    def stop(self) -> None:
        if self.web:
            self.web.stop()


def floor(systems: list[System], args: argparse.Namespace) -> dict[str, Any]:
    """``POST /ai/generate`` against do-nothing apps on our stack, beside the reference.

    ``bare``: an ASGI function under uvicorn that parses the JSON and answers
    202 (Python and uvicorn alone). ``django``: the lean API handler and an
    adrf view validating with the real ``GenerateRequestSerializer``, then
    answering 202 (``bench/floor``): no token, Redis, database or worker.
    ``django-novalidate``: the same view parsing the body without validating. The
    reference runs as in ``throughput`` (its worker consuming). What the
    floors reach bounds what any gateway on this stack can reach here.
    """
    connections = [int(c) for c in args.connections.split(",")]
    floors = [
        Floor("floor-bare", "bench.floor.bare:application", systems[0].logs, args.web_workers),
        Floor("floor-django", "tzurot_project.asgi:application", systems[0].logs, args.web_workers),
        Floor(
            "floor-django-novalidate",
            "tzurot_project.asgi:application",
            systems[0].logs,
            args.web_workers,
            FLOOR_VALIDATE="0",
        ),
    ]
    reference = [s for s in systems if isinstance(s, Reference)]
    for system in reference:
        system.start_worker(concurrency=50, delay_ms=0)
    for app in floors:
        app.start()
    everyone: list[Any] = [*floors, *reference]
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {
        s.name: {c: [] for c in connections} for s in everyone
    }
    try:
        for n in range(1, args.passes + 1):
            for system in everyone:
                lua = system.dir / "generate.lua" if isinstance(system, Reference) else BENCH / "generate.lua"
                run_wrk(system, lua, 32, WARMUP_SECONDS)
                drain(system)
                for c in connections:
                    result = run_wrk(system, lua, c, args.duration)
                    drain(system)
                    runs[system.name][c].append(result)
                    say(
                        f"floor pass {n} {system.name} c={c}: {result['rps']:.0f} req/s "
                        f"p50 {result['p50_ms']:.1f} ms p99 {result['p99_ms']:.1f} ms "
                        f"non2xx {result['non2xx']:.0f}"
                    )
    finally:
        for app in floors:
            app.stop()
        for system in reference:
            system.stop_worker()
    return {
        "runs": runs,
        "median": {
            name: {
                c: {key: median([p[key] for p in passes]) for key in ("rps", "p50_ms", "p99_ms")}
                for c, passes in by_c.items()
            }
            for name, by_c in runs.items()
        },
    }


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        found = re.search(r"^Model name:\s*(.*)$", lscpu, re.M)
        model = found.group(1).strip() if found else ""
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": sys.version.split()[0],
        "node": subprocess.run(
            ["node", "--version"], capture_output=True, text=True, check=False
        ).stdout.strip(),
        "load_average_at_start": os.getloadavg(),
    }


def ratios(results: dict[str, Any]) -> list[tuple[str, float, float, float]]:
    """(figure, ours, reference, ours/reference) rows for the summary table."""
    rows = []
    if "throughput" in results:
        med = results["throughput"]["median"]
        for c in sorted(med.get("ours", {}) or med.get("reference", {})):
            for key in ("rps", "p50_ms", "p99_ms"):
                rows.append(
                    (
                        f"POST c={c} {key}",
                        med.get("ours", {}).get(c, {}).get(key, float("nan")),
                        med.get("reference", {}).get(c, {}).get(key, float("nan")),
                    )
                )
    if "overhead" in results:
        med = results["overhead"]["median"]
        for key in ("median_ms", "p99_ms"):
            rows.append(
                (
                    f"request->result {key}",
                    med.get("ours", {}).get(key, float("nan")),
                    med.get("reference", {}).get(key, float("nan")),
                )
            )
    if "inflight" in results:
        med = results["inflight"]["median"]
        for key in med.get("ours") or med.get("reference") or {}:
            rows.append(
                (
                    f"in-flight {key}",
                    med.get("ours", {}).get(key, float("nan")),
                    med.get("reference", {}).get(key, float("nan")),
                )
            )
    if "floor" in results:
        med = results["floor"]["median"]
        reference = med.get("reference", {})
        for name in ("floor-bare", "floor-django", "floor-django-novalidate"):
            for c, figures in med.get(name, {}).items():
                rows.append(
                    (f"{name} c={c} rps", figures["rps"], reference.get(c, {}).get("rps", float("nan")))
                )
    if "waiters" in results and "median" in results["waiters"]:
        for key, value in results["waiters"]["median"]["ours"].items():
            rows.append((f"waiters {key}", value, float("nan")))
    return [(name, ours, ref, ours / ref if ref and ref == ref else float("nan")) for name, ours, ref in rows]


COMMANDS = {"throughput": throughput, "overhead": overhead, "inflight": inflight, "waiters": waiters}
# Not part of ``all``: ``floor --systems reference`` (see its docstring).
EXTRA_COMMANDS = {"floor": floor}


def main() -> None:
    parser = argparse.ArgumentParser(description="Tzurot gateway benchmarks against the reference gateway.")
    parser.add_argument("command", choices=[*COMMANDS, *EXTRA_COMMANDS, "all"])
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--systems", default="ours,reference")
    from tzurot_project.runner import DEFAULT_WEB_WORKERS

    parser.add_argument("--web-workers", type=int, default=DEFAULT_WEB_WORKERS)
    parser.add_argument("--duration", type=float, default=15, help="seconds per wrk run")
    parser.add_argument("--connections", default="32,64")
    parser.add_argument("--jobs", type=int, default=None, help="overhead: 1000, inflight: 5000")
    parser.add_argument("--delay", type=float, default=2.0, help="inflight: provider seconds per call")
    parser.add_argument(
        "--inflight-modes",
        default="enqueue,drain",
        help="inflight: 'enqueue' (submit while the worker runs) and/or 'drain' (queue first)",
    )
    parser.add_argument(
        "--memory",
        choices=["off", "on"],
        default="off",
        help="ours: long-term memory for the personality (recall by the local model, then a memory write)",
    )
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--settle", type=float, default=3.0, help="waiters: seconds before the worker starts")
    parser.add_argument("--ref-src", type=Path, default=REF_SRC)
    parser.add_argument("--ref-dir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    args = parser.parse_args()

    for tool in ("wrk", "node", "npm"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing (wrk: apt-get install -y wrk; node/npm from Debian)")
    root = Path(tempfile.mkdtemp(prefix="tzurot-bench-"))
    root.chmod(0o755)  # as root, PostgreSQL runs as its own user and must reach its data
    logs = root / "logs"
    logs.mkdir()
    wanted = args.systems.split(",")
    systems: list[System] = []
    if "ours" in wanted:
        systems.append(Ours(root, logs, args.web_workers, memory=args.memory == "on"))
    if "reference" in wanted:
        systems.append(Reference(root, logs, args.ref_src, args.ref_dir))

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    results: dict[str, Any] = {"machine": machine(), "args": {k: str(v) for k, v in vars(args).items()}}
    say(f"machine: {results['machine']}; logs in {logs}")
    try:
        for system in systems:
            system.start()
        commands = list(COMMANDS) if args.command == "all" else [args.command]
        for command in commands:
            sub = argparse.Namespace(**vars(args))
            if sub.jobs is None:
                sub.jobs = 5000 if command == "inflight" else 1000
            say(f"=== {command}")
            results[command] = {**COMMANDS, **EXTRA_COMMANDS}[command](systems, sub)
    finally:
        for system in reversed(systems):
            with contextlib.suppress(Exception):
                system.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    results["summary"] = ratios(results)
    print("\nfigure                                      ours   reference   ours/reference")
    for name, ours, ref, ratio in results["summary"]:
        print(f"{name:40s} {ours:9.2f} {ref:11.2f} {ratio:12.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str))
        say(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
