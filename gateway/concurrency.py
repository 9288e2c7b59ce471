"""Blocking work (the ORM, the synchronous Redis client) called from async API views.

Under Django's ASGI handler every request gets a thread of its own for its
synchronous steps (asgiref's ``ThreadSensitiveContext``): a thread is started
per request and kept, idle, for as long as the request lasts, even while it
only waits on a long-poll. The lean API handler (``tzurot_project.asgi``)
marks its requests with ``api_fast_path``; their blocking steps then run on a
small shared pool of threads (``API_DB_THREADS``), each call giving its
database connection back to the connection pool when it returns. Anywhere
else (the full handler, the test client, WSGI) ``run_blocking`` is Django's
own ``sync_to_async``, so behaviour there is unchanged.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections

T = TypeVar("T")

api_fast_path: contextvars.ContextVar[bool] = contextvars.ContextVar("tzurot_api_fast_path", default=False)

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=settings.API_DB_THREADS, thread_name_prefix="api-db")
        return _executor


def _call_then_release(fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
    try:
        return fn(*args, **kwargs)
    finally:
        # What request_finished does for a request's own thread: the connection
        # goes back to the pool (or is closed), never kept by an idle thread.
        connections.close_all()


async def run_blocking(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run ``fn(*args, **kwargs)`` off the event loop and return its result."""
    if not api_fast_path.get():
        return await sync_to_async(fn)(*args, **kwargs)
    context = contextvars.copy_context()
    call = functools.partial(context.run, _call_then_release, fn, args, kwargs)
    return await asyncio.get_running_loop().run_in_executor(_pool(), call)
