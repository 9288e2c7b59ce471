"""The bot's configuration, taken from Django settings once at start."""

from __future__ import annotations

from dataclasses import dataclass

import discord.gateway
import discord.http
import yarl
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

COMMAND_PREFIX = "!"  # with the command group "tz": "!tz help"
DISCORD_API_BASE_URL = "https://discord.com/api/v10"
DISCORD_GATEWAY_URL = "wss://gateway.discord.gg/"


@dataclass(frozen=True)
class BotConfig:
    discord_token: str
    api_url: str
    api_token: str
    redis_url: str
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None
    max_personalities: int = 5
    history_limit: int = 20
    liveness_file: str = ""
    liveness_interval: float = 30.0
    sync_commands: bool = True
    discord_api_base_url: str = DISCORD_API_BASE_URL
    discord_gateway_url: str = DISCORD_GATEWAY_URL

    def __repr__(self) -> str:  # the tokens stay out of logs and tracebacks
        return f"BotConfig(api_url={self.api_url!r}, shard_count={self.shard_count!r})"

    @classmethod
    def from_settings(cls) -> BotConfig:
        if not settings.DISCORD_TOKEN:
            raise ImproperlyConfigured("DISCORD_TOKEN is not set: the bot needs its Discord token.")
        if not settings.BOT_SERVICE_TOKEN:
            raise ImproperlyConfigured(
                "BOT_SERVICE_TOKEN is not set: the bot needs a service API token "
                "(python manage.py create_api_token discord-bot --service)."
            )
        return cls(
            discord_token=settings.DISCORD_TOKEN,
            api_url=settings.TZUROT_API_URL,
            api_token=settings.BOT_SERVICE_TOKEN,
            redis_url=settings.REDIS_URL,
            shard_count=settings.DISCORD_SHARD_COUNT,
            shard_ids=tuple(settings.DISCORD_SHARD_IDS) if settings.DISCORD_SHARD_IDS else None,
            max_personalities=settings.BOT_MAX_PERSONALITIES_PER_MESSAGE,
            history_limit=settings.BOT_HISTORY_LIMIT,
            liveness_file=settings.BOT_LIVENESS_FILE,
            sync_commands=settings.BOT_SYNC_COMMANDS,
            discord_api_base_url=settings.DISCORD_API_BASE_URL,
            discord_gateway_url=settings.DISCORD_GATEWAY_URL,
        )


def use_discord_endpoints(api_base_url: str, gateway_url: str) -> tuple[str, yarl.URL]:
    """Point discord.py at these addresses (a proxy, or a test double); returns the previous ones.

    discord.py keeps them as class attributes, so this is process-wide.
    """
    previous = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    discord.http.Route.BASE = api_base_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    return previous
