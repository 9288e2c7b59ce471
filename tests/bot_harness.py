"""Running the real bot (real discord.py client) against the loopback fakes.

``BotBackend`` is what the bot needs from the Tzurot API side: its URL and
service token, and a few knobs the tests use. The ``bot_backend`` fixture
gives the fake API; the end-to-end module keeps its assertions about the whole
flow so that the fixture can be swapped for the real API plus a real worker
and the fake LLM provider.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import discord.gateway
import discord.http
from django.conf import settings

from botclient.bot import build_bot
from botclient.config import BotConfig, use_discord_endpoints
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.tzurot_api import FakeTzurotApi, JobPlan, personality


@dataclass
class BotBackend:
    url: str
    token: str
    # The personalities it serves, as ``GET /personalities/`` returns them.
    personalities: list[dict[str, Any]]
    # Make every reply this function of the user's message text.
    set_reply: Callable[[Callable[[str], str]], None]
    fake: FakeTzurotApi | None = field(default=None, repr=False)


def fake_backend(api: FakeTzurotApi) -> BotBackend:
    api.personalities = [
        personality("alice", "Alice", aliases=["Ali"], avatar="https://cdn.example.org/alice.png"),
        personality("bob", "Bob", display_name="Bob the Builder", avatar="https://cdn.example.org/bob.png"),
        personality("dr-jekyll", "Dr Jekyll", aliases=["Jekyll"]),
    ]

    def set_reply(reply: Callable[[str], str]) -> None:
        api.plan = lambda body: JobPlan(content=reply(body["message"]))

    return BotBackend(api.base_url, api.token, api.personalities, set_reply, api)


def bot_config(discord: FakeDiscord, backend: BotBackend, **overrides: Any) -> BotConfig:
    values: dict[str, Any] = {
        "discord_token": discord.token,
        "api_url": backend.url,
        "api_token": backend.token,
        "redis_url": settings.REDIS_URL,
        "liveness_file": "",
        "discord_api_base_url": discord.base_url,
        "discord_gateway_url": discord.gateway_url,
        **overrides,
    }
    return BotConfig(**values)


@contextlib.asynccontextmanager
async def running_bot(config: BotConfig, **kwargs: Any) -> AsyncIterator[Any]:
    """The bot connected to the fake Discord and ready; closed cleanly afterwards."""
    previous = use_discord_endpoints(config.discord_api_base_url, config.discord_gateway_url)
    kwargs.setdefault("guild_ready_timeout", 0.05)
    bot = build_bot(config, **kwargs)
    task = asyncio.create_task(bot.start(config.discord_token))
    try:
        await eventually(lambda: bot.is_ready() or task.done(), what="the bot to be ready")
        if task.done():
            task.result()  # raise what stopped it
        yield bot
        if task.done():
            task.result()  # the bot died during the test
    finally:
        await bot.close()
        if not task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = previous


async def eventually(
    predicate: Callable[[], Any], *, timeout: float = 10.0, what: str = "a condition"
) -> Any:
    """Wait (yielding to the event loop) until ``predicate()`` is true; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


async def settle(seconds: float = 0.3) -> None:
    """Give the bot time to do something it must NOT do (a second answer, say)."""
    await asyncio.sleep(seconds)
