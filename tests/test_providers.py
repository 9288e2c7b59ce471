"""The one door to providers: a chat completion through the ``openai`` client, read from its JSON."""

from __future__ import annotations

from typing import Any

import pytest

from gateway import providers
from tests.fakes.openai_server import FakeOpenAI, Reply


def _complete(fake: FakeOpenAI, **kwargs: Any) -> providers.Completion:
    return providers.chat_complete(
        base_url=fake.base_url,
        api_key="sk-door",
        model="some/model",
        messages=[{"role": "user", "content": "Hi"}],
        sleep=lambda _: None,
        **kwargs,
    )


def test_the_request_is_the_openai_clients_with_the_body_built_here(fake_openai: FakeOpenAI) -> None:
    completion = _complete(fake_openai, temperature=0.3, max_tokens=77)

    (call,) = fake_openai.calls("chat")
    assert call.path == "/v1/chat/completions"
    assert call.headers["Authorization"] == "Bearer sk-door"
    assert call.headers["User-Agent"].startswith("OpenAI/Python")
    assert call.body == {
        "model": "some/model",
        "messages": [{"role": "user", "content": "Hi"}],
        "temperature": 0.3,
        "max_tokens": 77,
    }
    assert completion.content and completion.attempts == 1
    assert (
        completion.usage["total_tokens"]
        == completion.usage["prompt_tokens"] + completion.usage["completion_tokens"]
    )


def test_an_answer_without_usage_or_model_still_counts(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(
        "chat", Reply(body={"choices": [{"message": {"role": "assistant", "content": "Hello"}}]})
    )

    completion = _complete(fake_openai)

    assert completion.content == "Hello"
    assert completion.model == "some/model"
    assert completion.usage == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1, 2, 3], "The model's provider sent a malformed answer."),
        ({"choices": "nope"}, "The model answered with nothing."),
        ({"choices": []}, "The model answered with nothing."),
        ({"choices": [{"message": {"content": None}}]}, "The model answered with nothing."),
        (
            {"choices": [{"message": {"content": "ok"}}], "usage": {"total_tokens": "many"}},
            "The model's provider sent a malformed answer.",
        ),
    ],
)
def test_malformed_answers_are_permanent_provider_errors(
    fake_openai: FakeOpenAI, body: Any, message: str
) -> None:
    fake_openai.script("chat", Reply(body=body))

    with pytest.raises(providers.ProviderError) as raised:
        _complete(fake_openai)

    assert (raised.value.code, raised.value.message, raised.value.retryable) == (
        "provider_error",
        message,
        False,
    )
    assert len(fake_openai.calls("chat")) == 1  # not retried
