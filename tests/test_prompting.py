"""Prompt assembly: order, token budget, attachments."""

from __future__ import annotations

import pytest
from django.test import override_settings

from gateway.prompting import HistoryItem, PromptInput, build_prompt, estimate_tokens
from personalities_app.models import Personality


def nova(**fields) -> Personality:  # type: ignore[no-untyped-def]
    return Personality(slug="nova", name="Nova", system_prompt="You are Nova.", tone="Dry wit.", **fields)


def test_order_is_character_memories_reference_history_message() -> None:
    prompt = build_prompt(
        PromptInput(
            personality=nova(),
            model="m",
            user_name="Alice",
            message="hi",
            history=[HistoryItem("Bob", "earlier"), HistoryItem("Nova", "reply", True)],
            referenced=HistoryItem("Bob", "the referenced one"),
            memories=["Alice likes tea."],
        )
    )
    system = prompt.messages[0]["content"]
    assert system.index("You are Nova.") < system.index("Dry wit.") < system.index("Alice likes tea.")
    assert system.index("Alice likes tea.") < system.index("the referenced one")
    assert prompt.messages[1:] == [
        {"role": "user", "content": "Bob: earlier"},
        {"role": "assistant", "content": "reply"},
        {"role": "user", "content": "Alice: hi"},
    ]


@override_settings(DEFAULT_CONTEXT_WINDOW=4000, MODEL_CONTEXT_WINDOWS={})
def test_budget_keeps_room_for_the_answer_caps_memories_and_drops_oldest_history() -> None:
    history = [HistoryItem("Bob", f"message {i} " + "x" * 300) for i in range(60)]
    memories = [f"memory {i} " + "y" * 300 for i in range(40)]
    prompt = build_prompt(
        PromptInput(
            personality=nova(max_output_tokens=500),
            model="m",
            user_name="Alice",
            message="hi",
            history=history,
            memories=memories,
        )
    )
    assert prompt.max_output_tokens == 500
    used = sum(estimate_tokens(str(m["content"])) for m in prompt.messages)
    assert used <= 4000 - 500
    memory_text = prompt.messages[0]["content"].split("earlier conversations with Alice")[1]
    assert estimate_tokens(memory_text) <= 0.25 * (4000 - 500) + 10
    assert prompt.memories_used and prompt.memories_dropped
    # The newest history survives, the oldest is dropped.
    kept = [m["content"] for m in prompt.messages[1:-1]]
    assert kept and kept[-1].startswith("Bob: message 59")
    assert not any(k.startswith("Bob: message 0 ") for k in kept)
    assert prompt.history_dropped == 60 - len(kept)


@pytest.mark.parametrize(("model", "vision"), [("openai/gpt-4o", True), ("some/text-only-model", False)])
def test_images_are_parts_for_vision_models_and_a_note_otherwise(model: str, vision: bool) -> None:
    prompt = build_prompt(
        PromptInput(
            personality=nova(), model=model, user_name="Alice", message="look", image_urls=["https://x/a.png"]
        )
    )
    content = prompt.messages[-1]["content"]
    if vision:
        assert content[1] == {"type": "image_url", "image_url": {"url": "https://x/a.png"}}
    else:
        assert content == "Alice: look\n[1 image attached, which you cannot see]"
