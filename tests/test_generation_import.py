"""After a Shapes.inc import, a generation shows the character what it knows of the user.

Through the whole pipeline: the import (embedded with the local model, as the
worker embeds queries), POST /ai/generate, a real worker, the fake provider.
"""

from __future__ import annotations

import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.ingest.conftest import WREN, run

from .gateway_helpers import generate_body, generation_worker, service_client
from .test_generation_worker import submit_and_wait

__all__ = ["generation_worker"]

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("generation_worker")]


def ask(user_id: str, message: str) -> dict:  # type: ignore[type-arg]
    body = generate_body(message, user_id=user_id)
    body["personality"] = "wren-of-the-lantern"
    return submit_and_wait(service_client(), body)


def test_prompt_has_the_imported_memories_the_relevant_story_and_the_preferred_name(
    fake_openai: FakeOpenAI,
) -> None:
    run("import_shapes", str(WREN), "--user", "111")

    job = ask("111", "Do you remember my cat Biscuit? And tell me about the lighthouse again.")
    assert job["status"] == "succeeded", job
    messages = fake_openai.calls("chat")[0].body["messages"]
    system = messages[0]["content"]
    # The character, from the configuration.
    assert system.startswith("You are Wren, keeper of a lighthouse that no longer shines.")
    # The story, by its keyword (its title), in its own section.
    assert (
        "## What you know (use it when it is relevant)\n### The Lighthouse\nWren grew up in the old" in system
    )
    # The preferred name where the character addresses the user; the profile.
    assert "You are replying to Ally (on Discord: Alice; call them Ally)." in system
    assert (
        "## About Ally\nPronouns: she/her\nTheir story with you:\nAlly met Wren on a stormy night" in system
    )
    assert "- Ally adopted a grey cat named Biscuit." in system  # a notable fact
    # The imported memory, recalled by meaning.
    memories = system.split("## What you remember from earlier conversations with Ally\n")[1]
    assert "Ally adopted a grey cat named Biscuit. Biscuit adores tuna" in memories
    assert messages[-1] == {
        "role": "user",
        "content": "Alice: Do you remember my cat Biscuit? And tell me about the lighthouse again.",
    }
    fake_openai.reset()

    # Someone else: the character's knowledge, but nothing of Ally.
    stranger = ask("555", "Tell me about the lighthouse.")
    assert stranger["status"] == "succeeded", stranger
    system = fake_openai.calls("chat")[0].body["messages"][0]["content"]
    assert "### The Lighthouse" in system
    assert "Ally" not in system and "Biscuit" not in system
