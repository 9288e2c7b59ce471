"""Fixtures of the memory tests: personalities, users, and the fake embeddings endpoint."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from personalities_app.models import Personality
from tests.fakes.openai_server import FakeOpenAI

_slugs = itertools.count(1)


@pytest.fixture
def fake_embedder(fake_openai: FakeOpenAI, settings: Any) -> Iterator[FakeOpenAI]:
    """The ``openai`` embedding backend pointed at the loopback fake (deterministic vectors)."""
    settings.EMBEDDING_BACKEND = "openai"
    settings.EMBEDDING_MODEL = "fake-embedding"
    settings.EMBEDDING_BASE_URL = fake_openai.base_url
    settings.EMBEDDING_API_KEY = "sk-test-embeddings"
    settings.EMBEDDING_DIMENSIONS = 384
    yield fake_openai


@pytest.fixture
def make_personality(db: None) -> Callable[..., Personality]:
    def make(**fields: Any) -> Personality:
        n = next(_slugs)
        fields.setdefault("slug", f"char-{n}")
        fields.setdefault("name", f"Char{n}")
        return Personality.objects.create(**fields)

    return make
