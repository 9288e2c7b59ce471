"""Factories for the personalities app's tests."""

from __future__ import annotations

import io
import itertools
from typing import Any

from PIL import Image

from personalities_app.models import Personality

_counter = itertools.count(1)


def make_personality(**overrides: Any) -> Personality:
    number = next(_counter)
    values: dict[str, Any] = {
        "slug": f"character-{number}",
        "name": f"Character {number}",
        "greeting": "Hello there.",
        "error_message": "Oops.",
    }
    values.update(overrides)
    personality = Personality(**values)
    personality.full_clean()
    personality.save()
    return personality


def png_bytes(colour: tuple[int, int, int] = (200, 40, 90), size: int = 32) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, "PNG")
    return out.getvalue()
