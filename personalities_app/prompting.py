"""The character part of the system prompt, assembled from a personality's fields.

The worker's prompt builder calls :func:`character_system_prompt` and the admin
shows its output as a read-only preview, so what an operator reads is what the
model gets.
"""

from __future__ import annotations

from .models import Personality

# Labelled sections, in prompt order; empty fields are left out.
SECTIONS = (
    ("character_info", "Character"),
    ("traits", "Personality traits"),
    ("tone", "Tone and voice"),
    ("scenario", "Scenario"),
    ("likes", "Likes"),
    ("dislikes", "Dislikes"),
    ("example_dialogue", "Example dialogue"),
)
# The placeholders character cards use; the prompt is shared by everyone in a
# channel, so {{user}} becomes a neutral phrase, not one person's name.
CHAR_PLACEHOLDERS = ("{{char}}", "{{Char}}", "<BOT>")
USER_PLACEHOLDERS = ("{{user}}", "{{User}}", "<USER>")


def fill_placeholders(text: str, *, char: str, user: str = "the user") -> str:
    for placeholder in CHAR_PLACEHOLDERS:
        text = text.replace(placeholder, char)
    for placeholder in USER_PLACEHOLDERS:
        text = text.replace(placeholder, user)
    return text


def character_system_prompt(personality: Personality) -> str:
    """The system prompt text for a personality.

    Its ``system_prompt`` first (or "You are <name>." when it is empty), then
    one ``## Label`` section per non-empty field of :data:`SECTIONS`.
    ``{{char}}``/``{{user}}`` placeholders become the character's shown name
    and "the user".
    """
    name = personality.shown_name
    opening = personality.system_prompt.strip() or f"You are {name}."
    parts = [opening]
    for field, label in SECTIONS:
        value = str(getattr(personality, field) or "").strip()
        if value:
            parts.append(f"## {label}\n{value}")
    return fill_placeholders("\n\n".join(parts), char=name)
