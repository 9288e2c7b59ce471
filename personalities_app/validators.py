"""Validation rules with messages a character's author can act on."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
DISCORD_ID_RE = re.compile(r"^[0-9]{1,20}$")
# Discord refuses webhook usernames containing these (case-insensitive).
FORBIDDEN_NAME_PARTS = ("discord", "clyde")
MAX_ALIASES = 20
# Image formats Discord shows as an avatar, and a size no avatar needs to exceed.
AVATAR_FORMATS = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "WEBP": "webp"}
AVATAR_EXTENSIONS = ("png", "jpg", "jpeg", "gif", "webp")
MAX_AVATAR_BYTES = 4 * 1024 * 1024


def validate_slug(value: str) -> None:
    if not SLUG_RE.fullmatch(value or ""):
        raise ValidationError(
            "Use lowercase letters, digits and single hyphens, e.g. 'captain-nova'.", code="invalid_slug"
        )


def validate_webhook_name(value: str) -> None:
    """Discord's webhook username rules: 1-80 characters, no 'discord' or 'clyde'."""
    stripped = (value or "").strip()
    if not 1 <= len(stripped) <= 80:
        raise ValidationError("A name must be 1 to 80 characters long.", code="name_length")
    lowered = stripped.lower()
    for part in FORBIDDEN_NAME_PARTS:
        if part in lowered:
            raise ValidationError(
                f"Discord does not allow '{part}' in a webhook name; choose another name.",
                code="name_forbidden",
            )


def validate_https_url(value: str) -> None:
    if value and not value.lower().startswith("https://"):
        raise ValidationError(
            "The avatar must be an https:// URL (Discord fetches it).", code="avatar_not_https"
        )


def validate_aliases(value: Any) -> None:
    """A list of distinct names, each following the same rules as a name."""
    if not isinstance(value, list):
        raise ValidationError("Aliases must be a list of names.", code="aliases_not_list")
    if len(value) > MAX_ALIASES:
        raise ValidationError(f"At most {MAX_ALIASES} aliases, please.", code="too_many_aliases")
    seen: set[str] = set()
    for position, alias in enumerate(value, start=1):
        if not isinstance(alias, str) or not alias.strip():
            raise ValidationError(
                f"Alias {position} must be a non-empty piece of text.", code="alias_not_text"
            )
        if alias != alias.strip() or "\n" in alias:
            raise ValidationError(
                f"Alias {alias!r} has leading/trailing spaces or a line break.", code="alias_whitespace"
            )
        try:
            validate_webhook_name(alias)
        except ValidationError as exc:
            raise ValidationError(f"Alias {alias!r}: {exc.messages[0]}", code="invalid_alias") from None
        if alias.casefold() in seen:
            raise ValidationError(f"Alias {alias!r} is listed twice.", code="duplicate_alias")
        seen.add(alias.casefold())


def validate_avatar_size(file: Any) -> None:
    try:
        size = file.size
    except (OSError, ValueError):  # a stored file gone missing is not the author's fault
        return
    if size is not None and size > MAX_AVATAR_BYTES:
        raise ValidationError(
            f"The avatar image is {size // 1024} KB; at most {MAX_AVATAR_BYTES // (1024 * 1024)} MB, please.",
            code="avatar_too_large",
        )


def validate_discord_id(value: str) -> None:
    if not DISCORD_ID_RE.fullmatch(value or ""):
        raise ValidationError("A Discord id is a string of digits.", code="invalid_discord_id")


# Knowledge entries and relationship profiles.
MAX_KEYWORDS = 50
MAX_KEYWORD_CHARS = 100
MAX_KNOWLEDGE_CHARS = 20_000
MAX_FACTS = 30
MAX_FACT_CHARS = 300
MAX_BACKSTORY_CHARS = 4000


def validate_keywords(value: Any) -> None:
    """A list of distinct, non-empty words or phrases."""
    if not isinstance(value, list):
        raise ValidationError("Keywords must be a list of words or phrases.", code="keywords_not_list")
    if len(value) > MAX_KEYWORDS:
        raise ValidationError(f"At most {MAX_KEYWORDS} keywords, please.", code="too_many_keywords")
    seen: set[str] = set()
    for position, keyword in enumerate(value, start=1):
        if not isinstance(keyword, str) or not keyword.strip():
            raise ValidationError(
                f"Keyword {position} must be a non-empty piece of text.", code="keyword_empty"
            )
        if len(keyword) > MAX_KEYWORD_CHARS or "\n" in keyword:
            raise ValidationError(
                f"Keyword {position} must be one line of at most {MAX_KEYWORD_CHARS} characters.",
                code="keyword_too_long",
            )
        if keyword.strip().casefold() in seen:
            raise ValidationError(f"Keyword {keyword!r} is listed twice.", code="duplicate_keyword")
        seen.add(keyword.strip().casefold())


def validate_facts(value: Any) -> None:
    """A list of short, non-empty facts."""
    if not isinstance(value, list):
        raise ValidationError("Notable facts must be a list of text.", code="facts_not_list")
    if len(value) > MAX_FACTS:
        raise ValidationError(f"At most {MAX_FACTS} notable facts, please.", code="too_many_facts")
    for position, fact in enumerate(value, start=1):
        if not isinstance(fact, str) or not fact.strip():
            raise ValidationError(f"Fact {position} must be a non-empty piece of text.", code="fact_empty")
        if len(fact) > MAX_FACT_CHARS:
            raise ValidationError(
                f"Fact {position} is longer than {MAX_FACT_CHARS} characters.", code="fact_too_long"
            )
