"""The bot's end-to-end flows against the REAL stack.

A user on the loopback Discord → the real discord.py bot → the real API
(uvicorn) → Redis → a real Celery worker → the fake LLM provider → a webhook
execution. The flows and their assertions are those of ``test_bot_e2e``; only
the backend differs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gateway.services import token_create
from personalities_app.models import Personality
from tests.bot_harness import BotBackend
from tests.fakes.openai_server import FakeOpenAI
from tests.test_bot_e2e import (  # noqa: F401 - collected here against the real backend
    test_a_deleted_webhook_is_recreated_and_the_reply_still_arrives,
    test_a_reply_to_a_personality_message_routes_back_to_it,
    test_concurrent_first_replies_in_a_new_channel_create_exactly_one_webhook,
    test_mention_is_answered_through_a_webhook_as_the_personality,
    test_the_same_message_dispatched_twice_is_answered_once,
    world,
)

from .gateway_helpers import generation_worker

__all__ = ["generation_worker"]

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True), pytest.mark.slow]

USER_LINE = re.compile(r"^[^:\n]{1,100}: ", re.S)


def _users_message(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    if isinstance(content, list):
        content = content[0]["text"]
    return USER_LINE.sub("", content, count=1)


@pytest.fixture
def bot_backend(live_api: str, generation_worker: Any, fake_openai: FakeOpenAI) -> Iterator[BotBackend]:
    # Memory off: these flows are about delivery; memory end to end is
    # test_generation_memory's, and the local model's CPU time would only
    # make the timing of a loaded machine noisier here.
    Personality.objects.create(
        slug="alice",
        name="Alice",
        aliases=["Ali"],
        avatar_url="https://cdn.example.org/alice.png",
        memory_enabled=False,
    )
    Personality.objects.create(
        slug="bob",
        name="Bob",
        display_name="Bob the Builder",
        avatar_url="https://cdn.example.org/bob.png",
        memory_enabled=False,
    )
    Personality.objects.create(slug="dr-jekyll", name="Dr Jekyll", aliases=["Jekyll"], memory_enabled=False)
    _, raw = token_create(name="discord-bot", is_service=True)

    def set_reply(reply: Callable[[str], str]) -> None:
        fake_openai.reply_text = lambda body: reply(_users_message(body))

    personalities = [
        {
            "slug": p.slug,
            "name": p.name,
            "display_name": p.display_name,
            "aliases": p.aliases,
            "avatar": p.avatar,
        }
        for p in Personality.objects.order_by("slug")
    ]
    yield BotBackend(live_api, raw, personalities, set_reply)
