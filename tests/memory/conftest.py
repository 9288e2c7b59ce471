"""Fixtures of the memory tests: personalities, users, and the fake embeddings endpoint."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from personalities_app.models import Personality

_slugs = itertools.count(1)


@pytest.fixture
def make_personality(db: None) -> Callable[..., Personality]:
    def make(**fields: Any) -> Personality:
        n = next(_slugs)
        fields.setdefault("slug", f"char-{n}")
        fields.setdefault("name", f"Char{n}")
        return Personality.objects.create(**fields)

    return make
