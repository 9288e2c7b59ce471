"""Job completion events over Redis pub/sub, and the waiters of ``?wait=``.

The worker publishes a finished job's public representation on
``tzurot:job:<id>``. Each web process holds ONE pattern subscription
(``tzurot:job:*``) and hands events to the requests waiting for those jobs, so a
thousand long-polls cost a thousand futures, not a thousand Redis connections
or threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "tzurot:job:"

_sync_lock = threading.Lock()
_sync_clients: dict[str, redis.Redis] = {}


def sync_redis() -> redis.Redis:
    """A process-wide Redis client (thread-safe, pooled) for synchronous code.

    Short timeouts: a Redis that is down must turn into a quick 503, not a hung request.
    """
    url = settings.REDIS_URL
    with _sync_lock:
        client = _sync_clients.get(url)
        if client is None:
            client = _sync_clients[url] = redis.Redis.from_url(
                url, socket_timeout=2, socket_connect_timeout=1, health_check_interval=30
            )
        return client


def publish_finished(job_id: str, payload: dict[str, Any]) -> None:
    sync_redis().publish(CHANNEL_PREFIX + job_id, json.dumps(payload))


class JobWaiter:
    """Per event loop: one pattern subscription feeding futures keyed by job id."""

    def __init__(self) -> None:
        self._futures: dict[str, set[asyncio.Future[dict[str, Any]]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Event = asyncio.Event()

    async def ensure_listening(self) -> None:
        if self._task is None or self._task.done():
            self._ready.clear()
            self._task = asyncio.get_running_loop().create_task(self._listen(), name="tzurot-job-events")
        elif self._ready.is_set():
            return
        await asyncio.wait_for(self._ready.wait(), timeout=2)

    async def _listen(self) -> None:
        while True:
            client = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1)
            pubsub = client.pubsub()
            try:
                await pubsub.psubscribe(CHANNEL_PREFIX + "*")
                self._ready.set()
                async for message in pubsub.listen():
                    if message.get("type") != "pmessage":
                        continue
                    job_id = message["channel"].decode()[len(CHANNEL_PREFIX) :]
                    futures = self._futures.pop(job_id, None)
                    if not futures:
                        continue
                    payload = json.loads(message["data"])
                    for future in futures:
                        if not future.done():
                            future.set_result(payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # reconnect on any Redis trouble
                self._ready.clear()
                log.warning("job event subscription lost (%s); reconnecting", type(exc).__name__)
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                    await client.aclose()

    def register(self, job_id: str) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._futures.setdefault(job_id, set()).add(future)
        return future

    def unregister(self, job_id: str, future: asyncio.Future[dict[str, Any]]) -> None:
        futures = self._futures.get(job_id)
        if futures is not None:
            futures.discard(future)
            if not futures:
                self._futures.pop(job_id, None)

    @property
    def waiting(self) -> int:
        return sum(len(f) for f in self._futures.values())


_waiters: dict[asyncio.AbstractEventLoop, JobWaiter] = {}


def waiter() -> JobWaiter:
    loop = asyncio.get_running_loop()
    found = _waiters.get(loop)
    if found is None:
        for old in [old for old in _waiters if old.is_closed()]:
            del _waiters[old]
        found = _waiters[loop] = JobWaiter()
    return found
