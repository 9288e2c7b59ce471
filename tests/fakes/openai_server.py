"""A loopback HTTP server that speaks the parts of the OpenAI API we use.

Used by the tests and the benchmarks through the real ``openai`` client, never
by patching inside it. Endpoints (under ``/v1``): chat completions, embeddings,
audio transcriptions, the model list, and OpenRouter's key record (``/v1/key``). Behaviour is programmable:

* ``server.script("chat", Reply(status=429, headers={"Retry-After": "1"}), Reply())``
  queues answers for the next calls of an endpoint (then it falls back to the default);
* ``server.chat_delay`` delays every chat answer (seconds), for slow-provider tests;
* ``server.reply_text`` is a function of the request body giving the answer's text;
* ``server.rejected_keys`` are API keys answered with 401;
* every request is recorded in ``server.requests`` (path, headers, JSON body).

It runs aiohttp on its own event loop in a background thread, so thousands of
slow answers can be in flight at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Reply:
    """One scripted answer. ``status`` 200 with ``body`` None means the normal answer."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    malformed: bool = False  # answer 200 with a body that is not valid JSON


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any
    at: float


def _default_reply(body: dict[str, Any]) -> str:
    messages = body.get("messages") or []
    last = messages[-1]["content"] if messages else ""
    if isinstance(last, list):  # content parts
        last = " ".join(part.get("text", "") for part in last if isinstance(part, dict))
    return f"Echo: {last}"


def fake_embedding(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector for a text (same text, same vector)."""
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend((byte - 127.5) / 127.5 for byte in digest)
        counter += 1
    values = values[:dimensions]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.scripts: dict[str, deque[Reply]] = defaultdict(deque)
        self.chat_delay = 0.0
        self.reply_text: Callable[[dict[str, Any]], str] = _default_reply
        self.transcript = "transcribed audio"
        self.rejected_keys: set[str] = set()
        self.embedding_dimensions = 384
        # Files served at /files/<name> (attachment URLs in tests): name -> (bytes, content type).
        self.files: dict[str, tuple[bytes, str]] = {}
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- control ----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, endpoint: str, *replies: Reply) -> None:
        """Queue answers for ``endpoint`` ('chat', 'embeddings', 'transcriptions', 'models', 'key')."""
        with self._lock:
            self.scripts[endpoint].extend(replies)

    def calls(self, endpoint: str) -> list[Recorded]:
        suffix = {
            "chat": "/chat/completions",
            "embeddings": "/embeddings",
            "transcriptions": "/audio/transcriptions",
            "models": "/models",
            "key": "/key",
        }[endpoint]
        with self._lock:
            return [r for r in self.requests if r.path.endswith(suffix)]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.scripts.clear()
        self.chat_delay = 0.0
        self.reply_text = _default_reply
        self.rejected_keys = set()
        self.files = {}

    # -- lifecycle ----------------------------------------------------------------

    def start(self, port: int = 0) -> FakeOpenAI:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._serve(port))
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-openai", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake OpenAI server did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return

        async def shutdown() -> None:
            if self._runner:
                await self._runner.cleanup()
            # Scripted slow answers still sleeping: end them before the loop stops.
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _serve(self, port: int) -> None:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/audio/transcriptions", self._transcriptions)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/v1/key", self._key_info)
        app.router.add_get("/files/{name}", self._file)
        # Slow scripted answers must not hold up the end of a test session.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port, backlog=4096)
        await site.start()
        self.port = self._runner.addresses[0][1]

    # -- handlers -------------------------------------------------------------------

    async def _record(self, request: web.Request) -> Any:
        if request.content_type == "application/json":
            body: Any = await request.json()
        elif request.content_type.startswith("multipart/"):
            form = await request.post()
            body = {
                k: (v if isinstance(v, str) else f"<file {getattr(v, 'filename', '')}>")
                for k, v in form.items()
            }
        else:
            body = None
        with self._lock:
            self.requests.append(Recorded(request.path, dict(request.headers), body, time.time()))
        return body

    def _next(self, endpoint: str) -> Reply | None:
        with self._lock:
            queue = self.scripts.get(endpoint)
            return queue.popleft() if queue else None

    def _key(self, request: web.Request) -> str:
        return request.headers.get("Authorization", "").removeprefix("Bearer ").strip()

    async def _scripted(self, endpoint: str, request: web.Request) -> web.Response | None:
        if self._key(request) in self.rejected_keys:
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        reply = self._next(endpoint)
        if reply is None:
            return None
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.malformed:
            return web.Response(status=200, text="{not json", content_type="application/json")
        if reply.status != 200:
            body = reply.body or {"error": {"message": f"scripted {reply.status}", "type": "error"}}
            return web.json_response(body, status=reply.status, headers=reply.headers)
        if reply.body is not None:
            return web.json_response(reply.body, headers=reply.headers)
        return None

    async def _chat(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        scripted = await self._scripted("chat", request)
        if scripted is not None:
            return scripted
        if self.chat_delay:
            await asyncio.sleep(self.chat_delay)
        text = self.reply_text(body)
        prompt_tokens = sum(len(json.dumps(m.get("content", ""))) // 4 for m in body.get("messages", []))
        completion_tokens = max(1, len(text) // 4)
        return web.json_response(
            {
                "id": f"chatcmpl-{time.time_ns()}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake-model"),
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        scripted = await self._scripted("embeddings", request)
        if scripted is not None:
            return scripted
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        dimensions = int(body.get("dimensions") or self.embedding_dimensions)
        return web.json_response(
            {
                "object": "list",
                "model": body.get("model", "fake-embedding"),
                "data": [
                    {"object": "embedding", "index": i, "embedding": fake_embedding(t, dimensions)}
                    for i, t in enumerate(texts)
                ],
                "usage": {"prompt_tokens": sum(len(t) // 4 for t in texts), "total_tokens": 0},
            }
        )

    async def _transcriptions(self, request: web.Request) -> web.Response:
        await self._record(request)
        scripted = await self._scripted("transcriptions", request)
        if scripted is not None:
            return scripted
        return web.json_response({"text": self.transcript})

    def file_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/files/{name}"

    async def _file(self, request: web.Request) -> web.Response:
        found = self.files.get(request.match_info["name"])
        if found is None:
            return web.Response(status=404)
        return web.Response(body=found[0], content_type=found[1])

    async def _models(self, request: web.Request) -> web.Response:
        await self._record(request)
        scripted = await self._scripted("models", request)
        if scripted is not None:
            return scripted
        return web.json_response(
            {
                "object": "list",
                "data": [{"id": "fake-model", "object": "model", "created": 0, "owned_by": "tests"}],
            }
        )

    async def _key_info(self, request: web.Request) -> web.Response:
        # OpenRouter's GET /key: the calling key's own record; 401 for a bad key.
        await self._record(request)
        scripted = await self._scripted("key", request)
        if scripted is not None:
            return scripted
        return web.json_response({"data": {"label": "fake key", "usage": 0, "limit": None}})


def _error(status: int, message: str, code: str) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "invalid_request_error", "code": code}}, status=status
    )
