"""Shared set-up of the memory benchmarks: a database, Django, progress lines.

With ``DATABASE_URL`` set the benchmarks use that database (it must have the
pgvector extension available); otherwise they start an embedded PostgreSQL of
their own under a temporary directory, listening on loopback only, and stop it
at the end.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@contextmanager
def database(*, shared_buffers: str = "2GB", data_dir: str | None = None) -> Iterator[str]:
    """A PostgreSQL URL for the benchmark: ``DATABASE_URL``, or an embedded server of our own.

    ``data_dir`` keeps the embedded server's data there (to reuse a loaded
    table across runs); otherwise it lives in a temporary directory, removed
    at the end.
    """
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    from tzurot_project.embedded import EmbeddedServers, free_port

    # A benchmark stopped with SIGTERM still stops its servers (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    keep = data_dir is not None
    root = Path(data_dir) if keep else Path(tempfile.mkdtemp(prefix="tzurot-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    # World-traversable: as root PostgreSQL runs as its own system user.
    root.chmod(0o755)
    password_file = root / "bench-password"
    if not password_file.exists():
        password_file.write_text(secrets.token_hex(16))
    servers = EmbeddedServers(
        root / "servers", postgres=(free_port(), password_file.read_text().strip()), redis=None, persist=False
    )
    servers.start()
    assert servers.postgres is not None
    try:
        _tune(servers.postgres.url, shared_buffers)
        # shared_buffers takes effect on restart.
        servers.postgres.stop()
        servers.postgres.start()
        address = servers.postgres.url.rsplit("@", 1)[1]
        say(f"embedded PostgreSQL on {address} (shared_buffers={shared_buffers})")
        yield servers.postgres.url
    finally:
        servers.stop()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def _tune(url: str, shared_buffers: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"ALTER SYSTEM SET shared_buffers = '{shared_buffers}'")
        conn.execute("ALTER SYSTEM SET max_parallel_maintenance_workers = 1")
        conn.execute("ALTER SYSTEM SET synchronous_commit = off")


def setup_django(url: str) -> None:
    """Point Django at ``url`` and migrate it."""
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tzurot_project.settings")
    if "TZUROT_VAR_DIR" not in os.environ:
        var_dir = tempfile.mkdtemp(prefix="tzurot-bench-var-")
        atexit.register(shutil.rmtree, var_dir, ignore_errors=True)
        os.environ["TZUROT_VAR_DIR"] = var_dir
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
