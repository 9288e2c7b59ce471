"""Prompt assembly: the one place that decides what the model is shown.

Order of the system prompt: the character (its system prompt and fields), what
it knows that bears on this moment (knowledge entries from its lorebook), who
it is talking to (the conversation frame, addressing the user by the preferred
name of their relationship profile when they have one, then the profile:
pronouns, backstory, notable facts), what it remembers of them, and the
message being replied to. Then the recent history, and the current message
(with images as content parts for vision models, and voice messages as their
transcripts).

Everything is fitted into the model's context window: room is kept for the
answer; the character, frame, profile, referenced and current message are
always sent; knowledge entries take at most 15 % of the input budget and
memories at most a quarter (both in the order given, most relevant first); the
history gets what remains, newest first, so the oldest messages are the ones
dropped. Tokens are estimated, not counted: a tokenizer per provider would be a
download at run time; ``estimate_tokens`` over-estimates English text a little
(3 characters per token, where real tokenizers average about 4), so a prompt
that fits by the estimate fits for real.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from personalities_app.models import Personality
from personalities_app.prompting import character_system_prompt

CHARS_PER_TOKEN = 3
IMAGE_TOKENS = 850  # a high-detail image tile budget, roughly
MESSAGE_OVERHEAD = 4  # role and separators per chat message
MEMORY_SHARE = 0.25
KNOWLEDGE_SHARE = 0.15


def estimate_tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN + 1


def _matches(model: str, patterns: list[str]) -> bool:
    name = model.lower()
    return any(fnmatch.fnmatch(name, pattern.lower()) for pattern in patterns)


def context_window(model: str) -> int:
    for pattern, tokens in settings.MODEL_CONTEXT_WINDOWS.items():
        if fnmatch.fnmatch(model.lower(), pattern.lower()):
            return int(tokens)
    return int(settings.DEFAULT_CONTEXT_WINDOW)


def is_vision_model(model: str) -> bool:
    return _matches(model, settings.VISION_MODEL_PATTERNS)


@dataclass
class HistoryItem:
    author: str
    content: str
    is_personality: bool = False


@dataclass
class UserProfile:
    """What the character knows of the user (their relationship profile), as plain values."""

    preferred_name: str = ""
    pronouns: str = ""
    backstory: str = ""
    facts: list[str] = field(default_factory=list)


@dataclass
class PromptInput:
    personality: Personality
    model: str
    user_name: str
    message: str
    history: list[HistoryItem] = field(default_factory=list)
    referenced: HistoryItem | None = None
    memories: list[str] = field(default_factory=list)  # best first
    image_urls: list[str] = field(default_factory=list)
    transcripts: list[str] = field(default_factory=list)
    knowledge: list[str] = field(default_factory=list)  # most relevant first
    profile: UserProfile | None = None


@dataclass
class Prompt:
    messages: list[dict[str, Any]]
    max_output_tokens: int
    context_window: int
    estimated_tokens: int
    memories_used: int
    memories_dropped: int
    history_used: int
    history_dropped: int
    knowledge_used: int = 0
    knowledge_dropped: int = 0


def _conversation_frame(personality: Personality, user_name: str, addressed: str) -> str:
    name = personality.shown_name
    # Their messages carry their Discord name; the character calls them by their preferred one.
    who = (
        user_name
        if addressed == user_name
        else f"{addressed} (on Discord: {user_name}; call them {addressed})"
    )
    return (
        f"## This conversation\nYou are {name}, in a Discord conversation. You are replying to "
        f"{who}. Other people may speak too; their messages start with their names. "
        f"Stay in character and answer only as {name}, without prefixing your name."
    )


def _profile_block(addressed: str, profile: UserProfile | None) -> str:
    if profile is None:
        return ""
    lines: list[str] = []
    if profile.pronouns.strip():
        lines.append(f"Pronouns: {profile.pronouns.strip()}")
    if profile.backstory.strip():
        lines.append(f"Their story with you:\n{profile.backstory.strip()}")
    facts = [fact.strip() for fact in profile.facts if fact.strip()]
    if facts:
        lines.append("Notable facts:\n" + "\n".join(f"- {fact}" for fact in facts))
    if not lines:
        return ""
    return f"## About {addressed}\n" + "\n".join(lines)


def _knowledge_block(entries: list[str]) -> str:
    return "## What you know (use it when it is relevant)\n" + "\n\n".join(entries)


def _memory_block(user_name: str, memories: list[str]) -> str:
    lines = "\n".join(f"- {memory}" for memory in memories)
    return f"## What you remember from earlier conversations with {user_name}\n{lines}"


def _fit(texts: list[str], budget: int, overhead: int, *, skip_large: bool) -> list[str]:
    """The texts that fit ``budget`` tokens, in order.

    ``skip_large``: a text too large for what is left is passed over and smaller
    later ones may still fit; otherwise the first text that does not fit ends the list.
    """
    kept: list[str] = []
    spent = 0
    for text in texts:
        cost = estimate_tokens(text) + overhead
        if spent + cost > budget:
            if skip_large:
                continue
            break
        kept.append(text)
        spent += cost
    return kept


def _referenced_block(user_name: str, referenced: HistoryItem) -> str:
    return f"## {user_name} is replying to this message from {referenced.author}\n{referenced.content}"


def _current_message(inp: PromptInput, vision: bool) -> tuple[dict[str, Any], int]:
    text = f"{inp.user_name}: {inp.message}"
    for transcript in inp.transcripts:
        text += f"\n[voice message, transcribed] {transcript}"
    if inp.image_urls and not vision:
        count = len(inp.image_urls)
        text += f"\n[{count} image{'s' if count > 1 else ''} attached, which you cannot see]"
    tokens = estimate_tokens(text) + MESSAGE_OVERHEAD
    if inp.image_urls and vision:
        parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
        parts += [{"type": "image_url", "image_url": {"url": url}} for url in inp.image_urls]
        return {"role": "user", "content": parts}, tokens + IMAGE_TOKENS * len(inp.image_urls)
    return {"role": "user", "content": text}, tokens


def _history_message(item: HistoryItem) -> dict[str, Any]:
    if item.is_personality:
        return {"role": "assistant", "content": item.content}
    return {"role": "user", "content": f"{item.author}: {item.content}"}


def build_prompt(inp: PromptInput) -> Prompt:
    personality = inp.personality
    window = context_window(inp.model)
    max_output = personality.max_output_tokens or settings.DEFAULT_MAX_OUTPUT_TOKENS
    max_output = min(max_output, window // 2)
    input_budget = window - max_output

    addressed = (inp.profile.preferred_name.strip() if inp.profile else "") or inp.user_name
    character = character_system_prompt(personality)
    frame = _conversation_frame(personality, inp.user_name, addressed)
    profile = _profile_block(addressed, inp.profile)
    referenced = _referenced_block(addressed, inp.referenced) if inp.referenced is not None else ""
    fixed_parts = [part for part in (character, frame, profile, referenced) if part]
    current, current_tokens = _current_message(inp, is_vision_model(inp.model))
    fixed = estimate_tokens("\n\n".join(fixed_parts)) + MESSAGE_OVERHEAD + current_tokens
    remaining = max(input_budget - fixed, 0)

    # Knowledge: most relevant first, at most 15 % of the input budget; an
    # entry too long for what is left gives way to shorter ones after it.
    knowledge_budget = min(int(input_budget * KNOWLEDGE_SHARE), remaining)
    kept_knowledge = _fit(inp.knowledge, knowledge_budget, 2, skip_large=True)
    knowledge = _knowledge_block(kept_knowledge) if kept_knowledge else ""
    if knowledge:
        remaining -= estimate_tokens(knowledge) + 1

    # Memories: best first, at most a quarter of the input budget.
    memory_budget = min(int(input_budget * MEMORY_SHARE), max(remaining, 0))
    kept_memories = _fit(inp.memories, memory_budget, 2, skip_large=False)
    memories = _memory_block(addressed, kept_memories) if kept_memories else ""
    if memories:
        remaining -= estimate_tokens(memories) + 1

    # History: newest first until the budget runs out; the oldest are dropped.
    kept_history: list[dict[str, Any]] = []
    for item in reversed(inp.history):
        message = _history_message(item)
        cost = estimate_tokens(message["content"]) + MESSAGE_OVERHEAD
        if cost > remaining:
            break
        kept_history.append(message)
        remaining -= cost
    kept_history.reverse()

    # The referenced message stays last, next to the conversation.
    system_parts = [part for part in (character, knowledge, frame, profile, memories, referenced) if part]
    messages = [{"role": "system", "content": "\n\n".join(system_parts)}, *kept_history, current]
    return Prompt(
        messages=messages,
        max_output_tokens=max_output,
        context_window=window,
        estimated_tokens=input_budget - remaining,
        memories_used=len(kept_memories),
        memories_dropped=len(inp.memories) - len(kept_memories),
        history_used=len(kept_history),
        history_dropped=len(inp.history) - len(kept_history),
        knowledge_used=len(kept_knowledge),
        knowledge_dropped=len(inp.knowledge) - len(kept_knowledge),
    )
