"""The bot: a discord.py ``commands.Bot`` holding the shared services; features are cogs.

``build_bot(config)`` makes one (sharded when configured) and ``run_bot(config)``
runs it until SIGTERM/SIGINT, closing everything cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

import discord
import redis.asyncio as redis
from discord.ext import commands

from .api import BackendUnavailable, TzurotApi, TzurotApiError
from .config import COMMAND_PREFIX, BotConfig, use_discord_endpoints
from .delivery import Responder
from .personalities import PersonalityDirectory
from .state import BotState
from .webhooks import TTLCache, WebhookManager

log = logging.getLogger("botclient")

ACTIVATION_TTL = 60.0


def bot_intents() -> discord.Intents:
    """Only what the bot uses: guilds (channels, roles), guild and DM messages, message content."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.dm_messages = True
    intents.message_content = True
    return intents


class TzurotMixin:
    """What both bot classes share (plain and auto-sharded)."""

    config: BotConfig
    api: TzurotApi
    state: BotState
    directory: PersonalityDirectory
    webhooks: WebhookManager
    responder: Responder

    def _init_services(
        self,
        config: BotConfig,
        *,
        api: TzurotApi | None,
        redis_client: redis.Redis | None,
    ) -> None:
        self.config = config
        self.api = api or TzurotApi(config.api_url, config.api_token)
        self.state = BotState(redis_client or redis.Redis.from_url(config.redis_url))
        self.directory = PersonalityDirectory(self.api)
        self.webhooks = WebhookManager()
        self.responder = Responder(api=self.api, state=self.state, webhooks=self.webhooks)
        self._activations: TTLCache[int, str] = TTLCache(maxsize=10000, ttl=ACTIVATION_TTL)

    async def setup_hook(self) -> None:
        from .cogs import setup_cogs

        bot: Any = self
        await self.api.start()
        await setup_cogs(bot)
        try:
            people = await self.directory.refresh()
        except (BackendUnavailable, TzurotApiError) as exc:
            log.error("Could not load the personalities at start (%s); will retry on first use", exc)
        else:
            names = ", ".join(f"{p.shown_name} ({p.slug})" for p in people) or "none yet"
            log.info("Tzurot bot serving %d personalities: %s", len(people), names)
        if self.config.sync_commands:
            try:
                synced = await bot.tree.sync()
                log.info("Synced %d application command(s) with Discord", len(synced))
            except discord.HTTPException as exc:
                log.warning("Could not sync application commands (%s)", exc)

    async def close(self) -> None:
        await super().close()  # type: ignore[misc]
        await self.api.close()
        await self.state.close()

    # -- activation (cached: every message in a channel asks) ----------------------------------------

    async def activation_for(self, channel: discord.abc.Messageable) -> str | None:
        """The personality active in this channel; a thread without its own inherits its parent's."""
        ids = [channel.id] if hasattr(channel, "id") else []
        if isinstance(channel, discord.Thread) and channel.parent_id:
            ids.append(channel.parent_id)
        for channel_id in ids:
            cached = self._activations.get(channel_id)
            if cached is None:
                cached = await self.api.get_activation(channel_id) or ""
                self._activations.set(channel_id, cached)
            if cached:
                return cached
        return None

    def forget_activation(self, channel_id: int) -> None:
        self._activations.pop(channel_id)

    # -- events -----------------------------------------------------------------------------------------

    async def on_message(self, message: discord.Message) -> None:
        # Never answer bots, webhooks (our own personalities included) or system messages.
        if message.author.bot or message.webhook_id is not None or message.is_system():
            return
        # The gateway may deliver an event twice, or again after a reconnect.
        if not await self.state.first_sighting(message.id):
            return
        bot: Any = self
        ctx = await bot.get_context(message)
        if ctx.command is not None:
            await bot.invoke(ctx)
            return
        bot.dispatch("chat_message", message)


class TzurotBot(TzurotMixin, commands.Bot):
    def __init__(
        self,
        config: BotConfig,
        *,
        api: TzurotApi | None = None,
        redis_client: redis.Redis | None = None,
        intents: discord.Intents | None = None,
        **options: Any,
    ) -> None:
        super().__init__(
            command_prefix=COMMAND_PREFIX, intents=intents or bot_intents(), help_command=None, **options
        )
        self._init_services(config, api=api, redis_client=redis_client)


class ShardedTzurotBot(TzurotMixin, commands.AutoShardedBot):
    def __init__(
        self,
        config: BotConfig,
        *,
        api: TzurotApi | None = None,
        redis_client: redis.Redis | None = None,
        **options: Any,
    ) -> None:
        super().__init__(
            command_prefix=COMMAND_PREFIX,
            intents=bot_intents(),
            help_command=None,
            shard_count=config.shard_count,
            shard_ids=list(config.shard_ids) if config.shard_ids else None,
            **options,
        )
        self._init_services(config, api=api, redis_client=redis_client)


def build_bot(config: BotConfig, **kwargs: Any) -> TzurotBot | ShardedTzurotBot:
    """A bot for ``config``: sharded when a shard count is configured."""
    use_discord_endpoints(config.discord_api_base_url, config.discord_gateway_url)
    # Personalities' replies never ping anyone; the bot's own messages only the person addressed.
    kwargs.setdefault("allowed_mentions", discord.AllowedMentions(everyone=False, roles=False, users=True))
    if config.shard_count:
        return ShardedTzurotBot(config, **kwargs)
    return TzurotBot(config, **kwargs)


async def run_bot(config: BotConfig) -> None:
    """Run until SIGTERM or SIGINT, then close the gateway, HTTP sessions and Redis."""
    bot = build_bot(config)
    loop = asyncio.get_running_loop()

    closing: list[asyncio.Task[None]] = []

    def stop(name: str) -> None:
        log.info("Received %s; shutting down", name)
        if not closing:
            closing.append(loop.create_task(bot.close()))

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig.name)
    try:
        async with bot:
            await bot.start(config.discord_token, reconnect=True)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("Tzurot bot stopped")
