"""Conversation: who a message addresses, and answering as them.

Triggers, in order, several personalities per message (capped, in a stable
order): a reply to a personality's message, then ``@Name``/the name as first
words, then (when nothing addressed anyone) the channel's activated
personality, or in DMs the user's session (last personality used, else their
selection).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from ..api import BackendUnavailable, PersonalityInfo, TzurotApiError
from ..config import COMMAND_PREFIX
from ..context import API_KEY_PATTERN, build_context, message_text, recent_history

if TYPE_CHECKING:
    from ..bot import TzurotBot

log = logging.getLogger(__name__)

DM_HINT = (
    "Who would you like to talk to? Address a personality by name (`@Name hello`) or pick one "
    f"with `{COMMAND_PREFIX}tz use <name>`; `{COMMAND_PREFIX}tz list` shows who is here."
)
DM_KEY_HINT = (
    "That looks like an API key, so I did not pass it on to anyone. To store it as your key, "
    f"send `{COMMAND_PREFIX}tz key set <provider> <key>` (providers: openrouter, openai, custom)."
)
EXPOSED_KEY = (
    "{mention} I deleted your message: it looked like an API key. Anyone in this channel may have "
    "seen it, so consider that key exposed and revoke it at your provider. To store a key safely use "
    "`/tz key set` (only you see it) or send it to me in a DM."
)


class Chat(commands.Cog):
    def __init__(self, bot: TzurotBot) -> None:
        self.bot = bot

    @commands.Cog.listener()
    async def on_chat_message(self, message: discord.Message) -> None:
        try:
            await self.handle(message)
        except Exception:
            log.exception("Failed to handle message %s", message.id)

    async def handle(self, message: discord.Message) -> None:
        bot = self.bot
        if API_KEY_PATTERN.search(message.content):
            # Never pass a key on to a model (or into memory); in a channel, also remove it.
            if message.guild is not None:
                await self._delete_exposed_key(message)
            else:
                await message.channel.send(DM_KEY_HINT)
            return
        if not await bot.state.first_of_burst(
            channel_id=message.channel.id, user_id=message.author.id, text=_burst_text(message)
        ):
            return
        personalities = await self.resolve(message)
        if not personalities:
            if message.guild is None:
                await message.channel.send(DM_HINT)
            return
        if message.guild is None:
            await bot.state.set_dm_session(message.author.id, personalities[0].slug)
        text = message_text(message)
        marker = await bot.state.reset_marker(message.channel.id)
        history = await recent_history(
            bot, message, limit=bot.config.history_limit, after=marker, skip_prefix=f"{COMMAND_PREFIX}tz"
        )
        referenced = await self._referenced(message)
        ids = [m.id for m in history] + ([referenced.id] if referenced else [])
        context = await build_context(
            bot,
            message,
            history=history,
            personality_messages=await bot.state.routed_messages(ids),
            referenced=referenced,
        )
        await bot.responder.respond(message, personalities, text=text, context=context)

    async def resolve(self, message: discord.Message) -> list[PersonalityInfo]:
        bot = self.bot
        slugs: list[str] = []
        reference = message.reference
        if reference is not None and reference.message_id is not None:
            slug = await bot.state.personality_for_message(reference.message_id)
            if slug:
                slugs.append(slug)
        index = await bot.directory.index()
        slugs.extend(s for s in index.find(message.content) if s not in slugs)
        if not slugs:
            try:
                if message.guild is not None:
                    active = await bot.activation_for(message.channel)
                else:
                    active = await bot.state.dm_session(message.author.id) or await bot.api.get_selection(
                        message.author.id
                    )
            except (BackendUnavailable, TzurotApiError) as exc:
                log.warning("Could not look up the channel's personality (%s)", exc)
                active = None
            if active:
                slugs.append(active)
        found: list[PersonalityInfo] = []
        for slug in slugs[: bot.config.max_personalities]:
            person = await bot.directory.get(slug)
            if person is not None:
                found.append(person)
        return found

    async def _referenced(self, message: discord.Message) -> discord.Message | None:
        reference = message.reference
        if reference is None or reference.message_id is None:
            return None
        if isinstance(reference.resolved, discord.Message):
            return reference.resolved
        cached = reference.cached_message
        if cached is not None:
            return cached
        try:
            return await message.channel.fetch_message(reference.message_id)
        except discord.HTTPException:
            return None

    async def _delete_exposed_key(self, message: discord.Message) -> None:
        try:
            await message.delete()
            text = EXPOSED_KEY.format(mention=message.author.mention)
        except discord.HTTPException:
            text = (
                f"{message.author.mention} Your message looks like an API key and I could not delete it: "
                "delete it now, and consider the key exposed (revoke it at your provider)."
            )
        await message.channel.send(text, allowed_mentions=discord.AllowedMentions(users=[message.author]))


def _burst_text(message: discord.Message) -> str:
    return message.content + "\0" + "\0".join(a.filename for a in message.attachments)
