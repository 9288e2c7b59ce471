"""Prompt assembly: order, token budget, attachments, knowledge entries, the user's profile."""

from __future__ import annotations

import pytest
from django.test import override_settings

from gateway.prompting import HistoryItem, PromptInput, UserProfile, build_prompt, estimate_tokens
from personalities_app.models import Personality


def nova(**fields) -> Personality:  # type: ignore[no-untyped-def]
    return Personality(slug="nova", name="Nova", system_prompt="You are Nova.", tone="Dry wit.", **fields)


def test_order_is_character_knowledge_frame_profile_memories_reference_history_message() -> None:
    prompt = build_prompt(
        PromptInput(
            personality=nova(),
            model="m",
            user_name="Alice",
            message="hi",
            history=[HistoryItem("Bob", "earlier"), HistoryItem("Nova", "reply", True)],
            referenced=HistoryItem("Bob", "the referenced one"),
            memories=["Alice likes tea."],
            knowledge=["### The Nebula\nA cloud of gas Nova once crossed."],
            profile=UserProfile(pronouns="she/her", facts=["Alice is a pilot."]),
        )
    )
    system = prompt.messages[0]["content"]
    order = [
        "You are Nova.",
        "Dry wit.",
        "## What you know (use it when it is relevant)\n### The Nebula\nA cloud of gas",
        "## This conversation",
        "## About Alice\nPronouns: she/her\nNotable facts:\n- Alice is a pilot.",
        "## What you remember from earlier conversations with Alice\n- Alice likes tea.",
        "the referenced one",
    ]
    positions = [system.index(part) for part in order]
    assert positions == sorted(positions), positions
    assert prompt.knowledge_used == 1 and prompt.knowledge_dropped == 0
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


def test_preferred_name_replaces_the_discord_name_where_the_character_addresses_the_user() -> None:
    prompt = build_prompt(
        PromptInput(
            personality=nova(),
            model="m",
            user_name="alice_99",
            message="hi",
            referenced=HistoryItem("Bob", "look at this"),
            memories=["alice_99 likes tea."],
            profile=UserProfile(preferred_name="Ally", backstory="Met Nova at the spaceport."),
        )
    )
    system = prompt.messages[0]["content"]
    assert "You are replying to Ally (on Discord: alice_99; call them Ally)." in system
    assert "## About Ally\nTheir story with you:\nMet Nova at the spaceport." in system
    assert "## What you remember from earlier conversations with Ally" in system
    assert "## Ally is replying to this message from Bob" in system
    # Messages keep the name they carry on Discord, like the history's.
    assert prompt.messages[-1] == {"role": "user", "content": "alice_99: hi"}


def test_without_profile_or_knowledge_there_are_no_such_sections() -> None:
    prompt = build_prompt(
        PromptInput(personality=nova(), model="m", user_name="Alice", message="hi", profile=UserProfile())
    )
    system = prompt.messages[0]["content"]
    assert "replying to Alice." in system
    assert "## About" not in system and "## What you know" not in system


@override_settings(DEFAULT_CONTEXT_WINDOW=4000, MODEL_CONTEXT_WINDOWS={})
def test_knowledge_takes_at_most_15_percent_most_relevant_first_and_long_entries_give_way() -> None:
    huge = "### Huge\n" + "z" * 3000
    entries = (
        [f"### Entry {i}\n" + "k" * 300 for i in range(3)]
        + [huge]
        + [f"### Small {i}\nshort" for i in range(3)]
    )
    prompt = build_prompt(
        PromptInput(
            personality=nova(max_output_tokens=500),
            model="m",
            user_name="Alice",
            message="hi",
            knowledge=entries,
            memories=[f"memory {i} " + "y" * 300 for i in range(40)],
        )
    )
    system = prompt.messages[0]["content"]
    block = system.split("## What you know (use it when it is relevant)\n")[1].split(
        "\n\n## This conversation"
    )[0]
    assert estimate_tokens(block) <= 0.15 * (4000 - 500) + 10
    kept = [line for line in block.splitlines() if line.startswith("### ")]
    # In the given order; the entry too long for what was left is passed over for the small ones.
    assert kept == ["### Entry 0", "### Entry 1", "### Entry 2", "### Small 0", "### Small 1", "### Small 2"]
    assert prompt.knowledge_used == 6 and prompt.knowledge_dropped == 1
    # Memories still get their quarter, and everything fits the input budget.
    assert prompt.memories_used > 0
    used = sum(estimate_tokens(str(m["content"])) for m in prompt.messages)
    assert used <= 4000 - 500
