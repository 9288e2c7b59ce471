"""The character part of the system prompt, assembled from a personality's fields."""

from __future__ import annotations

from .models import Personality

_SECTIONS = (
    ("character_info", "Character"),
    ("traits", "Personality traits"),
    ("tone", "Tone of voice"),
    ("scenario", "Scenario"),
    ("likes", "Likes"),
    ("dislikes", "Dislikes"),
    ("example_dialogue", "Example dialogue"),
)


def character_system_prompt(personality: Personality) -> str:
    parts = [personality.system_prompt.strip()] if personality.system_prompt.strip() else []
    for field, label in _SECTIONS:
        value = getattr(personality, field).strip()
        if value:
            parts.append(f"## {label}\n{value}")
    return "\n\n".join(parts)
