"""Speaking as a personality: one bot-owned webhook per channel.

Each parent channel gets one webhook named ``Tzurot``, created by the bot and
found again after a restart (by owner). Threads and forum posts use their
parent's webhook with ``thread``. Webhooks are cached (TTL, bounded); a
per-channel lock makes concurrent first replies create exactly one. "Unknown
Webhook" (10015: someone deleted it) drops the cache entry and the send is
retried once with a fresh webhook. A channel where the bot may not manage
webhooks, or that already has 15, raises ``WebhookUnavailable``; the caller
then falls back to a plain message.

Every send uses ``AllowedMentions.none()``: a personality never pings anyone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

import discord

log = logging.getLogger(__name__)

WEBHOOK_NAME = "Tzurot"
UNKNOWN_WEBHOOK = 10015
MAX_WEBHOOKS = 30007
MISSING_PERMISSIONS = 50013
CHANNEL_WEBHOOK_LIMIT = 15
ZERO_WIDTH_SPACE = "\u200b"
_RESERVED = ("discord", "clyde")

K = TypeVar("K")
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    """A small LRU cache whose entries also expire."""

    def __init__(self, *, maxsize: int, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.maxsize = maxsize
        self.ttl = ttl
        self._clock = clock
        self._data: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[0] <= self._clock():
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return item[1]

    def set(self, key: K, value: V, ttl: float | None = None) -> None:
        self._data[key] = (self._clock() + (self.ttl if ttl is None else ttl), value)
        self._data.move_to_end(key)
        while len(self._data) > self.maxsize:
            self._data.popitem(last=False)

    def pop(self, key: K) -> None:
        self._data.pop(key, None)

    def __len__(self) -> int:
        return len(self._data)


class WebhookUnavailable(Exception):
    """This channel cannot have our webhook; ``reason`` is ``missing_permissions`` or ``limit_reached``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def webhook_username(name: str) -> str:
    """A name Discord accepts for a webhook message: 1 to 80 characters, no "discord"/"clyde"."""
    cleaned = " ".join(name.split()) or "Tzurot"
    lowered = cleaned.casefold()
    for word in _RESERVED:
        start = lowered.find(word)
        while start >= 0:
            # A zero-width space after the first letter: reads the same, is no longer the word.
            cleaned = cleaned[: start + 1] + ZERO_WIDTH_SPACE + cleaned[start + 1 :]
            lowered = cleaned.casefold()
            start = lowered.find(word, start + 2)
    if cleaned.casefold() in ("everyone", "here"):
        cleaned = cleaned[0] + ZERO_WIDTH_SPACE + cleaned[1:]
    return cleaned[:80]


def parent_and_thread(
    channel: discord.abc.Messageable,
) -> tuple[discord.TextChannel | discord.ForumChannel | None, discord.Thread | None]:
    if isinstance(channel, discord.Thread):
        parent = channel.parent
        if isinstance(parent, discord.TextChannel | discord.ForumChannel):
            return parent, channel
        return None, channel
    if isinstance(channel, discord.TextChannel):
        return channel, None
    return None, None


class WebhookManager:
    def __init__(
        self,
        *,
        ttl: float = 600.0,
        maxsize: int = 2048,
        unavailable_ttl: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cache: TTLCache[int, discord.Webhook] = TTLCache(maxsize=maxsize, ttl=ttl, clock=clock)
        # Channels that cannot have a webhook, remembered briefly so each message does not ask again.
        self._unavailable: TTLCache[int, str] = TTLCache(maxsize=maxsize, ttl=unavailable_ttl, clock=clock)
        self.unavailable_ttl = unavailable_ttl
        self._locks = [asyncio.Lock() for _ in range(64)]

    def invalidate(self, channel_id: int) -> None:
        self._cache.pop(channel_id)

    def cached_webhook_id(self, channel_id: int) -> int | None:
        webhook = self._cache.get(channel_id)
        return webhook.id if webhook else None

    async def webhook_for(self, parent: discord.TextChannel | discord.ForumChannel) -> discord.Webhook:
        cached = self._cache.get(parent.id)
        if cached is not None:
            return cached
        async with self._locks[parent.id % len(self._locks)]:
            cached = self._cache.get(parent.id)  # another task may have made it meanwhile
            if cached is not None:
                return cached
            reason = self._unavailable.get(parent.id)
            if reason is not None:
                raise WebhookUnavailable(reason)
            try:
                webhook = await self._find_or_create(parent)
            except WebhookUnavailable as exc:
                self._unavailable.set(parent.id, exc.reason)
                raise
            self._cache.set(parent.id, webhook)
            return webhook

    async def _find_or_create(self, parent: discord.TextChannel | discord.ForumChannel) -> discord.Webhook:
        me = parent.guild.me
        if me is None or not parent.permissions_for(me).manage_webhooks:
            raise WebhookUnavailable("missing_permissions")
        try:
            hooks = await parent.webhooks()
            ours = [h for h in hooks if h.user is not None and h.user.id == me.id and h.token]
            if ours:
                # Prefer the one carrying our name; any of ours will do.
                ours.sort(key=lambda h: (h.name != WEBHOOK_NAME, h.id))
                return ours[0]
            if len(hooks) >= CHANNEL_WEBHOOK_LIMIT:
                raise WebhookUnavailable("limit_reached")
            log.info("Creating the webhook for channel %s", parent.id)
            return await parent.create_webhook(
                name=WEBHOOK_NAME, reason="Tzurot personalities speak through it"
            )
        except discord.Forbidden as exc:
            raise WebhookUnavailable("missing_permissions") from exc
        except discord.HTTPException as exc:
            if exc.code == MAX_WEBHOOKS:
                raise WebhookUnavailable("limit_reached") from exc
            raise

    async def send(
        self,
        channel: discord.abc.Messageable,
        *,
        content: str,
        username: str,
        avatar_url: str | None,
    ) -> discord.WebhookMessage:
        """Send as ``username``; raises ``WebhookUnavailable`` when this channel cannot have a webhook."""
        parent, thread = parent_and_thread(channel)
        if parent is None:
            raise WebhookUnavailable("not_a_guild_channel")
        for attempt in (1, 2):
            webhook = await self.webhook_for(parent)
            try:
                return await webhook.send(
                    content=content,
                    username=webhook_username(username),
                    avatar_url=avatar_url or None,
                    allowed_mentions=discord.AllowedMentions.none(),
                    thread=thread if thread is not None else discord.utils.MISSING,
                    wait=True,
                )
            except discord.NotFound as exc:
                if exc.code != UNKNOWN_WEBHOOK or attempt == 2:
                    raise
                log.info("Webhook of channel %s is gone (10015); making a new one", parent.id)
                self.invalidate(parent.id)
            except discord.Forbidden as exc:
                self.invalidate(parent.id)
                self._unavailable.set(parent.id, "missing_permissions")
                raise WebhookUnavailable("missing_permissions") from exc
        raise AssertionError("unreachable")
