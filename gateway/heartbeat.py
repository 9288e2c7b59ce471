"""Worker heartbeat: each Celery worker records "alive at <time>" in Redis.

The beats live in one sorted set (``tzurot:workers``: worker hostname → last
beat as a Unix time), so ``/health`` can tell in one call whether any worker has
beaten recently. A worker that stops cleanly removes itself.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

import redis
from celery.signals import worker_ready, worker_shutdown
from django.conf import settings

log = logging.getLogger(__name__)

WORKERS_KEY = "tzurot:workers"

_stop = threading.Event()


def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def beat(client: redis.Redis, hostname: str) -> None:
    now = time.time()
    pipe = client.pipeline()
    pipe.zadd(WORKERS_KEY, {hostname: now})
    # Forget workers that have been silent for a day.
    pipe.zremrangebyscore(WORKERS_KEY, "-inf", now - 86400)
    pipe.execute()


def _recover_after_start() -> None:
    """A worker that starts may be replacing one that died: once the dead one's
    heartbeat has gone stale, give its jobs back (Celery beat also sweeps)."""
    from .services import jobs_recover

    try:
        counts = jobs_recover()
    except Exception as exc:  # the periodic sweep will try again
        log.warning("start-up job recovery failed: %s", type(exc).__name__)
        return
    if any(counts.values()):
        log.info("start-up job recovery: %s", counts)


def _run(hostname: str) -> None:
    client = _client()
    interval = settings.WORKER_HEARTBEAT_INTERVAL
    recover_at = time.monotonic() + 3 * interval + 1
    while not _stop.is_set():
        try:
            beat(client, hostname)
        except redis.RedisError as exc:
            log.warning("worker heartbeat failed: %s", exc)
        if recover_at and time.monotonic() >= recover_at:
            recover_at = 0
            _recover_after_start()
        _stop.wait(interval)


@worker_ready.connect
def _start(sender: Any = None, **_: Any) -> None:
    hostname = getattr(sender, "hostname", None) or "worker"
    _stop.clear()
    threading.Thread(target=_run, args=(hostname,), name="tzurot-heartbeat", daemon=True).start()
    log.info("worker heartbeat started for %s", hostname)


@worker_shutdown.connect
def _shutdown(sender: Any = None, **_: Any) -> None:
    _stop.set()
    hostname = getattr(sender, "hostname", None) or "worker"
    with contextlib.suppress(redis.RedisError):
        _client().zrem(WORKERS_KEY, hostname)
