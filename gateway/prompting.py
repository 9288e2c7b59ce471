"""Prompt assembly: the one place that decides what the model is shown.

Order: the character (its system prompt and fields), who it is talking to,
what it remembers of them, the message being replied to, the recent history,
and the current message (with images as content parts for vision models, and
voice messages as their transcripts).

Everything is fitted into the model's context window: room is kept for the
answer, memories take at most a quarter of the rest (best first), and the
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


def _conversation_frame(personality: Personality, user_name: str) -> str:
    name = personality.shown_name
    return (
        f"## This conversation\nYou are {name}, in a Discord conversation. You are replying to "
        f"{user_name}. Other people may speak too; their messages start with their names. "
        f"Stay in character and answer only as {name}, without prefixing your name."
    )


def _memory_block(user_name: str, memories: list[str]) -> str:
    lines = "\n".join(f"- {memory}" for memory in memories)
    return f"## What you remember from earlier conversations with {user_name}\n{lines}"


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

    system_parts = [character_system_prompt(personality), _conversation_frame(personality, inp.user_name)]
    system_parts = [part for part in system_parts if part]
    if inp.referenced is not None:
        system_parts.append(_referenced_block(inp.user_name, inp.referenced))
    current, current_tokens = _current_message(inp, is_vision_model(inp.model))
    fixed = estimate_tokens("\n\n".join(system_parts)) + MESSAGE_OVERHEAD + current_tokens
    remaining = max(input_budget - fixed, 0)

    # Memories: best first, at most a quarter of the input budget.
    memory_budget = min(int(input_budget * MEMORY_SHARE), remaining)
    kept_memories: list[str] = []
    spent = 0
    for memory in inp.memories:
        cost = estimate_tokens(memory) + 2
        if spent + cost > memory_budget:
            break
        kept_memories.append(memory)
        spent += cost
    if kept_memories:
        # Before the referenced message, so that stays next to the conversation.
        position = len(system_parts) - (1 if inp.referenced is not None else 0)
        block = _memory_block(inp.user_name, kept_memories)
        system_parts.insert(position, block)
        spent = estimate_tokens(block)
    remaining -= spent

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
    )
