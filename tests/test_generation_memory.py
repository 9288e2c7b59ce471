"""Long-term memory in the pipeline: what a user said once comes back in a later conversation."""

from __future__ import annotations

import pytest

from memory.models import Memory
from tests.conftest import wait_for
from tests.fakes.openai_server import FakeOpenAI

from .gateway_helpers import generate_body, generation_worker, make_personality, service_client
from .test_generation_worker import submit_and_wait

__all__ = ["generation_worker"]

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("generation_worker")]


def conversation(user_id: str, channel_id: str, message: str) -> dict:  # type: ignore[type-arg]
    body = generate_body(message, user_id=user_id)
    body["context"]["channel_id"] = channel_id
    return body


def test_a_fact_from_one_conversation_is_recalled_later_for_that_user_only(fake_openai: FakeOpenAI) -> None:
    make_personality()
    client = service_client()
    first = submit_and_wait(
        client, conversation("111", "222", "My cat is named Biscuit and she adores tuna.")
    )
    assert first["status"] == "succeeded", first
    # The exchange is written to memory by a follow-up task (embedded by the local model).
    wait_for(
        lambda: Memory.objects.filter(user_id="111", embedding__isnull=False).exists(),
        90,
        "the exchange to be remembered",
        interval=0.2,
    )
    memory = Memory.objects.get(user_id="111")
    assert memory.text.startswith("Alice: My cat is named Biscuit")
    fake_openai.reset()

    later = submit_and_wait(client, conversation("111", "777", "Remind me, what is my cat called?"))
    assert later["status"] == "succeeded", later
    system = fake_openai.calls("chat")[0].body["messages"][0]["content"]
    assert "What you remember from earlier conversations with Alice" in system
    assert "Biscuit" in system
    fake_openai.reset()

    stranger = submit_and_wait(client, conversation("555", "777", "Remind me, what is my cat called?"))
    assert stranger["status"] == "succeeded", stranger
    system = fake_openai.calls("chat")[0].body["messages"][0]["content"]
    assert "Biscuit" not in system


def test_memory_disabled_personality_neither_recalls_nor_remembers(fake_openai: FakeOpenAI) -> None:
    forgetful = make_personality(memory_enabled=False)
    make_personality("echo", name="Echo")
    client = service_client()
    job = submit_and_wait(client, conversation("111", "222", "Remember that I hate mornings."))
    assert job["status"] == "succeeded"
    assert "What you remember" not in fake_openai.calls("chat")[0].body["messages"][0]["content"]
    # A later exchange with a remembering character is stored; by then the
    # forgetful one's would have been too, had it been scheduled.
    body = conversation("111", "222", "Remember that I hate evenings.")
    body["personality"] = "echo"
    assert submit_and_wait(client, body)["status"] == "succeeded"
    wait_for(
        lambda: Memory.objects.filter(personality__slug="echo").exists(), 90, "echo's memory", interval=0.2
    )
    assert not Memory.objects.filter(personality=forgetful).exists()
