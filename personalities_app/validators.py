"""Validation rules with messages a character's author can act on."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# Discord refuses webhook usernames containing these (case-insensitive).
FORBIDDEN_NAME_PARTS = ("discord", "clyde")


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
