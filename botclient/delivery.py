"""From a triggered message to the personalities' replies in the channel.

All personalities addressed by one message generate at once (one task each:
``POST /ai/generate``, then long polls of the job), while the typing indicator
is refreshed; replies are then sent in trigger order. A failed job is answered
with the personality's own error message and a short error code; an
unreachable backend (after the client's retries) with a "try again shortly".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import discord

from .api import BackendUnavailable, PersonalityInfo, TzurotApi, TzurotApiError
from .splitting import split_message
from .state import BotState
from .webhooks import WebhookManager, WebhookUnavailable, parent_and_thread

log = logging.getLogger(__name__)

KEY_HINT = (
    "Your API key needs attention: set a new one with `/tz key set` (only you see it) "
    "or send `!tz key set <provider> <key>` to me in a DM."
)
UNAVAILABLE = "I can't reach the Tzurot service right now. Please try again shortly."
DEFAULT_ERROR = "Sorry, I couldn't come up with an answer."
MODERATOR_NOTICE = {
    "missing_permissions": (
        "Note for moderators: characters normally speak here under their own names through a "
        "webhook, but I lack the **Manage Webhooks** permission in this channel. Until it is "
        "granted they answer as plain messages from me, prefixed with their names."
    ),
    "limit_reached": (
        "Note for moderators: characters normally speak here under their own names through a "
        "webhook, but this channel already has Discord's maximum of 15 webhooks. Until one is "
        "removed they answer as plain messages from me, prefixed with their names."
    ),
}


@dataclass(frozen=True)
class Outcome:
    content: str | None = None
    job_id: str = ""
    error_code: str | None = None

    @property
    def ok(self) -> bool:
        return self.content is not None and self.error_code is None


def failure_text(person: PersonalityInfo, code: str) -> str:
    if code == "backend_unavailable":
        return f"{UNAVAILABLE} (error: {code})"
    text = f"{person.error_message or DEFAULT_ERROR} (error: {code})"
    if code in ("invalid_api_key", "no_api_key"):
        text += "\n" + KEY_HINT
    return text


class Responder:
    def __init__(
        self,
        *,
        api: TzurotApi,
        state: BotState,
        webhooks: WebhookManager,
        typing_interval: float = 8.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.api = api
        self.state = state
        self.webhooks = webhooks
        self.typing_interval = typing_interval
        self._sleep = sleep

    async def respond(
        self,
        message: discord.Message,
        personalities: list[PersonalityInfo],
        *,
        text: str,
        context: dict[str, Any],
    ) -> None:
        typing = asyncio.create_task(self._keep_typing(message.channel))
        jobs = [asyncio.create_task(self._generate(p, text, context)) for p in personalities]
        try:
            for person, job in zip(personalities, jobs, strict=True):
                outcome = await job
                if job is jobs[-1]:
                    typing.cancel()
                await self.deliver(message.channel, person, outcome)
        finally:
            typing.cancel()
            for job in jobs:
                job.cancel()

    async def _keep_typing(self, channel: discord.abc.Messageable) -> None:
        # Discord shows "typing" for about 10 s per request; refresh it until we answer.
        while True:
            with contextlib.suppress(discord.HTTPException):
                await channel.typing()
            await self._sleep(self.typing_interval)

    async def _generate(self, person: PersonalityInfo, text: str, context: dict[str, Any]) -> Outcome:
        try:
            job = await self.api.generate(personality=person.slug, message=text, context=context)
            job = await self.api.wait_for_job(job)
        except BackendUnavailable:
            return Outcome(error_code="backend_unavailable")
        except TzurotApiError as exc:
            log.warning("Generation for %s refused: %s %s", person.slug, exc.status, exc.code)
            return Outcome(error_code=exc.code)
        if job.status == "succeeded" and job.content is not None and job.content.strip():
            return Outcome(content=job.content, job_id=job.job_id)
        return Outcome(job_id=job.job_id, error_code=job.error_code or "empty_reply")

    async def deliver(
        self, channel: discord.abc.Messageable, person: PersonalityInfo, outcome: Outcome
    ) -> None:
        text = (
            outcome.content
            if outcome.ok and outcome.content
            else failure_text(person, outcome.error_code or "")
        )
        try:
            sent = await self._send_as(channel, person, text)
        except discord.HTTPException:
            log.exception(
                "Could not deliver %s's reply in channel %s", person.slug, getattr(channel, "id", "?")
            )
            return
        await self.state.remember_delivery(
            message_ids=sent, channel_id=getattr(channel, "id", 0), slug=person.slug, job_id=outcome.job_id
        )

    async def _send_as(
        self, channel: discord.abc.Messageable, person: PersonalityInfo, text: str
    ) -> list[int]:
        try:
            # Fetch the webhook before sending anything, so a channel without one goes plain from the start.
            parent, _ = parent_and_thread(channel)
            if parent is None:
                raise WebhookUnavailable("not_a_guild_channel")
            await self.webhooks.webhook_for(parent)
        except WebhookUnavailable as exc:
            return await self._send_plain(channel, person, text, exc.reason)
        sent: list[int] = []
        chunks = split_message(text)
        for index, chunk in enumerate(chunks):
            try:
                message = await self.webhooks.send(
                    channel, content=chunk, username=person.shown_name, avatar_url=person.avatar
                )
            except WebhookUnavailable as exc:  # lost mid-reply: the rest goes plain
                return sent + await self._send_plain(channel, person, "".join(chunks[index:]), exc.reason)
            sent.append(message.id)
        return sent

    async def _send_plain(
        self, channel: discord.abc.Messageable, person: PersonalityInfo, text: str, reason: str
    ) -> list[int]:
        notice = MODERATOR_NOTICE.get(reason)
        parent, _ = parent_and_thread(channel)
        if notice and parent is not None and await self.state.claim_moderator_notice(parent.id):
            await channel.send(notice, allowed_mentions=discord.AllowedMentions.none())
        prefix = f"**{discord.utils.escape_markdown(person.shown_name)}:** "
        sent: list[int] = []
        for index, chunk in enumerate(split_message(text, 2000 - len(prefix))):
            message = await channel.send(
                (prefix if index == 0 else "") + chunk, allowed_mentions=discord.AllowedMentions.none()
            )
            sent.append(message.id)
        return sent
