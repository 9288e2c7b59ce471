"""The fake provider itself, driven through the real openai client."""

from __future__ import annotations

import openai
import pytest

from tests.fakes.openai_server import FakeOpenAI, Reply


def client(server: FakeOpenAI, key: str = "sk-test") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0)


def test_chat_echoes_and_records(fake_openai: FakeOpenAI) -> None:
    answer = client(fake_openai).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hello"}]
    )
    assert answer.choices[0].message.content == "Echo: hello"
    assert answer.usage is not None and answer.usage.total_tokens > 0
    (call,) = fake_openai.calls("chat")
    assert call.body["model"] == "m"
    assert call.headers["Authorization"] == "Bearer sk-test"


def test_scripted_status_then_default(fake_openai: FakeOpenAI) -> None:
    fake_openai.script("chat", Reply(status=429, headers={"Retry-After": "0"}))
    with pytest.raises(openai.RateLimitError):
        client(fake_openai).chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    client(fake_openai).chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])


def test_rejected_key_and_malformed_body(fake_openai: FakeOpenAI) -> None:
    fake_openai.rejected_keys.add("sk-bad")
    with pytest.raises(openai.AuthenticationError):
        client(fake_openai, "sk-bad").models.list()
    fake_openai.script("chat", Reply(malformed=True))
    with pytest.raises((openai.APIError, ValueError)):  # the client raises JSONDecodeError
        client(fake_openai).chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])


def test_embeddings_are_deterministic(fake_openai: FakeOpenAI) -> None:
    first = client(fake_openai).embeddings.create(model="e", input=["a", "b"])
    second = client(fake_openai).embeddings.create(model="e", input="a")
    assert len(first.data[0].embedding) == 384
    assert first.data[0].embedding == second.data[0].embedding
    assert first.data[0].embedding != first.data[1].embedding
