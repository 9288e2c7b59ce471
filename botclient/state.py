"""The bot's short-lived state in Redis (and its database fallback).

Keys (prefix ``tzurot:bot:``):

* ``seen:<message id>`` — the message was handled (SET NX, 10 minutes): the gateway
  may deliver an event twice, or again after a reconnect;
* ``burst:<sha256>`` — this user just sent this text in this channel (5 s);
* ``route:<message id>`` → personality slug of a message the bot sent (7 days;
  the ``DeliveredMessage`` table keeps it for good);
* ``reset:<channel id>`` → snowflake before which history is not sent (``!tz reset``);
* ``dm:<user id>`` → the personality of the user's DM session (30 days);
* ``notice:<channel id>`` — moderators were told why webhooks do not work (30 days).

When Redis fails the bot keeps answering: dedup fails open (better a rare
double answer than silence) and routes fall back to the database.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import redis.asyncio as redis
from asgiref.sync import sync_to_async
from django.db import close_old_connections

from . import selectors, services

log = logging.getLogger(__name__)
T = TypeVar("T")


def _in_database(func: Callable[..., T]) -> Callable[..., Any]:
    """``func`` off the event loop, treated like a request: connections are checked before and after.

    The bot lives for weeks; without this a connection the database closed
    (a restart) would fail the next query.
    """

    def run(**kwargs: Any) -> T:
        close_old_connections()
        try:
            return func(**kwargs)
        finally:
            close_old_connections()

    return sync_to_async(run)


PREFIX = "tzurot:bot:"
SEEN_TTL = 600
BURST_TTL = 5
ROUTE_TTL = 7 * 24 * 3600
SESSION_TTL = 30 * 24 * 3600
NOTICE_TTL = 30 * 24 * 3600
RESET_TTL = 90 * 24 * 3600


def _normalise(text: str) -> str:
    return " ".join(text.casefold().split())


class BotState:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    async def close(self) -> None:
        await self.redis.aclose()

    async def _set_nx(self, key: str, ttl: int) -> bool:
        try:
            return bool(await self.redis.set(PREFIX + key, "1", nx=True, ex=ttl))
        except redis.RedisError as exc:
            log.warning(
                "Redis unavailable for %s (%s); treating it as new", key.split(":")[0], type(exc).__name__
            )
            return True

    async def first_sighting(self, message_id: int) -> bool:
        """True the first time a Discord message id is seen within 10 minutes."""
        return await self._set_nx(f"seen:{message_id}", SEEN_TTL)

    async def first_of_burst(self, *, channel_id: int, user_id: int, text: str) -> bool:
        """False when the same user sent the same text in the same channel seconds ago."""
        digest = hashlib.sha256(f"{channel_id}\0{user_id}\0{_normalise(text)}".encode()).hexdigest()
        return await self._set_nx(f"burst:{digest}", BURST_TTL)

    # -- routes: which personality sent a message ------------------------------------------------

    async def remember_delivery(
        self, *, message_ids: Iterable[int | str], channel_id: int | str, slug: str, job_id: str = ""
    ) -> None:
        ids = [str(m) for m in message_ids]
        if not ids:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for message_id in ids:
                    pipe.set(PREFIX + f"route:{message_id}", slug, ex=ROUTE_TTL)
                await pipe.execute()
        except redis.RedisError as exc:
            log.warning("Redis unavailable for routes (%s); the database keeps them", type(exc).__name__)
        try:
            await _in_database(services.delivered_message_record)(
                message_ids=ids, channel_id=str(channel_id), personality_slug=slug, job_id=job_id
            )
        except Exception:
            log.exception("Could not record delivered messages in the database")

    async def personality_for_message(self, message_id: int | str) -> str | None:
        try:
            value = await self.redis.get(PREFIX + f"route:{message_id}")
        except redis.RedisError:
            value = None
        if value is not None:
            return value.decode() if isinstance(value, bytes) else str(value)
        slug = await _in_database(selectors.delivered_message_personality)(message_id=str(message_id))
        if slug is not None:
            with contextlib.suppress(redis.RedisError):
                await self.redis.set(PREFIX + f"route:{message_id}", slug, ex=ROUTE_TTL)
        return slug

    async def routed_messages(self, message_ids: list[int]) -> set[int]:
        """Which of these messages the bot sent as a personality (Redis only: for history labels)."""
        if not message_ids:
            return set()
        try:
            values = await self.redis.mget([PREFIX + f"route:{m}" for m in message_ids])
        except redis.RedisError:
            return set()
        return {m for m, v in zip(message_ids, values, strict=True) if v is not None}

    # -- reset markers, DM sessions, notices -------------------------------------------------------------

    async def set_reset_marker(self, channel_id: int, snowflake: int) -> None:
        await self.redis.set(PREFIX + f"reset:{channel_id}", str(snowflake), ex=RESET_TTL)

    async def reset_marker(self, channel_id: int) -> int | None:
        try:
            value = await self.redis.get(PREFIX + f"reset:{channel_id}")
        except redis.RedisError:
            return None
        return int(value) if value is not None else None

    async def set_dm_session(self, user_id: int, slug: str) -> None:
        try:
            await self.redis.set(PREFIX + f"dm:{user_id}", slug, ex=SESSION_TTL)
        except redis.RedisError as exc:
            log.warning("Redis unavailable for DM sessions (%s)", type(exc).__name__)

    async def dm_session(self, user_id: int) -> str | None:
        try:
            value = await self.redis.get(PREFIX + f"dm:{user_id}")
        except redis.RedisError:
            return None
        return value.decode() if isinstance(value, bytes) else value

    async def claim_moderator_notice(self, channel_id: int) -> bool:
        """True once per channel (per 30 days): whether to explain the webhook problem now."""
        try:
            return bool(await self.redis.set(PREFIX + f"notice:{channel_id}", "1", nx=True, ex=NOTICE_TTL))
        except redis.RedisError:
            return False
