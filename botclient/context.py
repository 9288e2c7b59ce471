"""What the bot tells the API about a message: ``context`` of ``POST /ai/generate``.

History comes from discord.py's message cache when the cache certainly holds
the channel's latest messages, else from Discord (one request). Messages
before the channel's reset marker and bot commands are left out.
"""

from __future__ import annotations

import re
from typing import Any

import discord

MAX_MESSAGE = 8000
MAX_HISTORY_ITEM = 2000
# Provider keys people paste by mistake (OpenAI/OpenRouter/Anthropic style): never sent on.
API_KEY_PATTERN = re.compile(r"\bsk-(?:or-v1-|proj-|ant-)?[A-Za-z0-9_\-]{20,}")


def _author_name(message: discord.Message) -> str:
    author = message.author
    return getattr(author, "display_name", None) or author.name


def message_text(message: discord.Message) -> str:
    """The message for the API (1 to 8000 characters): its text, or a word about what it holds."""
    text = message.clean_content.strip()
    if not text:
        if message.attachments:
            text = "(sent " + ", ".join(a.filename for a in message.attachments) + ")"
        else:
            text = "(no text)"
    return text[:MAX_MESSAGE]


def attachments_of(message: discord.Message) -> list[dict[str, str]]:
    return [
        {
            "url": a.url,
            "content_type": a.content_type or "application/octet-stream",
            "filename": a.filename,
        }
        for a in message.attachments
    ]


async def recent_history(
    client: discord.Client,
    message: discord.Message,
    *,
    limit: int,
    after: int | None,
    skip_prefix: str,
) -> list[discord.Message]:
    """Up to ``limit`` messages before ``message`` in its channel (oldest first), newer than ``after``."""
    if limit <= 0:
        return []
    floor = after or 0
    channel = message.channel
    cached = [m for m in client.cached_messages if m.channel.id == channel.id and m.id < message.id]
    # The cache drops oldest first, so what it holds of a channel is its latest run of
    # messages: enough of them (or the reset point itself) means nothing newer is missing.
    if len(cached) >= limit or (floor and cached and cached[0].id <= floor):
        found = cached
    else:
        found = [m async for m in channel.history(limit=limit, before=message)]
        found.reverse()
    usable = [
        m
        for m in found
        if m.id > floor and not m.content.startswith(skip_prefix) and not API_KEY_PATTERN.search(m.content)
    ]
    return usable[-limit:]


async def build_context(
    client: discord.Client,
    message: discord.Message,
    *,
    history: list[discord.Message],
    personality_messages: set[int],
    referenced: discord.Message | None,
) -> dict[str, Any]:
    channel = message.channel
    thread_id = None
    channel_id = channel.id
    if isinstance(channel, discord.Thread):
        thread_id = channel.id
        channel_id = channel.parent_id

    def is_personality(m: discord.Message) -> bool:
        return m.id in personality_messages

    def is_own_notice(m: discord.Message) -> bool:
        # The bot's own messages that are not a personality speaking (command answers, notices).
        return client.user is not None and m.author.id == client.user.id and m.id not in personality_messages

    reference = None
    if referenced is not None:
        reference = {
            "author": _author_name(referenced),
            "content": referenced.clean_content[:MAX_HISTORY_ITEM],
            "is_personality": is_personality(referenced),
            "message_id": str(referenced.id),
        }
    return {
        "user_id": str(message.author.id),
        "user_name": _author_name(message),
        "channel_id": str(channel_id),
        "guild_id": str(message.guild.id) if message.guild else None,
        "thread_id": str(thread_id) if thread_id else None,
        "message_id": str(message.id),
        "referenced_message": reference,
        "history": [
            {
                "author": _author_name(m),
                "content": m.clean_content[:MAX_HISTORY_ITEM],
                "is_personality": is_personality(m),
            }
            for m in history
            if m.clean_content.strip() and not is_own_notice(m)
        ],
        "attachments": attachments_of(message),
    }
