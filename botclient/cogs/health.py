"""Liveness: a file touched while the bot is connected (docker-compose's health check reads it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

from discord.ext import commands

if TYPE_CHECKING:
    from ..bot import TzurotBot

log = logging.getLogger(__name__)


class Liveness(commands.Cog):
    def __init__(self, bot: TzurotBot, path: str, interval: float) -> None:
        self.bot = bot
        self.path = Path(path)
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        self._task = asyncio.create_task(self._run(), name="tzurot-liveness")

    async def cog_unload(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        self._touch()

    def _touch(self) -> None:
        try:
            self.path.touch()
        except OSError as exc:
            log.warning("Cannot touch the liveness file %s (%s)", self.path, exc.strerror)

    def healthy(self) -> bool:
        # Connected, and the gateway answers heartbeats (latency is infinite until it does).
        return self.bot.is_ready() and not self.bot.is_closed() and math.isfinite(self.bot.latency)

    async def _run(self) -> None:
        while True:
            if self.healthy():
                self._touch()
            await asyncio.sleep(self.interval)
