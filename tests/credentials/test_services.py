"""Setting, checking, resolving and invalidating keys, against the loopback fake provider."""

from __future__ import annotations

import pickle
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from credentials.models import UserCredential
from credentials.services import (
    CredentialRejected,
    NoCredential,
    ProviderUnreachable,
    UnknownProvider,
    credential_delete,
    credential_mark_invalid,
    credential_resolve,
    credential_set,
    credential_verify,
)
from gateway.errors import ApiError, NotFound
from tests.fakes.openai_server import FakeOpenAI, Reply
from tzurot_project.embedded import free_port

from .conftest import USER, new_key

pytestmark = pytest.mark.django_db


# --- checking a key against the provider ---------------------------------------------


def test_accepted_key_is_stored_after_the_provider_checked_it(providers: FakeOpenAI) -> None:
    key = new_key()
    credential = credential_set(user_id=USER, provider="openai", api_key=key)
    (call,) = providers.calls("models")
    assert call.headers["Authorization"] == f"Bearer {key}"
    assert credential.hint == "…" + key[-4:]
    assert credential.is_valid
    assert credential_resolve(user_id=USER).api_key == key


def test_openrouter_key_is_checked_against_its_key_record_not_the_public_model_list(
    providers: FakeOpenAI,
) -> None:
    # OpenRouter lists models to anyone; only GET /key tells a good key from a bad one.
    key = new_key("sk-or-v1-")
    credential_set(user_id=USER, provider="openrouter", api_key=key)
    assert len(providers.calls("key")) == 1
    assert providers.calls("models") == []
    providers.rejected_keys.add(bad := new_key("sk-or-v1-"))
    with pytest.raises(CredentialRejected):
        credential_set(user_id=USER, provider="openrouter", api_key=bad)


def test_rejected_key_is_not_stored_and_the_error_says_why(providers: FakeOpenAI) -> None:
    key = new_key()
    providers.rejected_keys.add(key)
    with pytest.raises(CredentialRejected) as caught:
        credential_set(user_id=USER, provider="openai", api_key=key)
    assert caught.value.status_code == 400
    assert caught.value.code == "invalid_api_key"
    assert "OpenAI rejected the API key" in caught.value.message
    assert not UserCredential.objects.exists()


def test_rejected_replacement_keeps_the_working_key(providers: FakeOpenAI) -> None:
    good, bad = new_key(), new_key()
    credential_set(user_id=USER, provider="openai", api_key=good)
    providers.rejected_keys.add(bad)
    with pytest.raises(CredentialRejected):
        credential_set(user_id=USER, provider="openai", api_key=bad)
    assert credential_resolve(user_id=USER).api_key == good


def test_unreachable_provider_stores_nothing_and_suggests_saving_unchecked(settings) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1"
    settings.CREDENTIAL_PROVIDER_BASE_URLS = {"openrouter": closed, "openai": closed}
    with pytest.raises(ProviderUnreachable) as caught:
        credential_set(user_id=USER, provider="openai", api_key=new_key())
    assert caught.value.status_code == 503
    assert caught.value.code == "provider_unreachable"
    assert "could not be checked" in caught.value.message
    assert "could not be reached" in caught.value.message
    assert "verify=false" in caught.value.message
    assert not UserCredential.objects.exists()


def test_provider_server_error_is_unreachable_not_rejected(providers: FakeOpenAI) -> None:
    providers.script("models", Reply(status=500))
    with pytest.raises(ProviderUnreachable) as caught:
        credential_set(user_id=USER, provider="openai", api_key=new_key())
    assert "HTTP status 500" in caught.value.message
    assert not UserCredential.objects.exists()


def test_slow_provider_times_out(settings, providers: FakeOpenAI) -> None:
    settings.CREDENTIAL_VERIFY_TIMEOUT = 0.3
    providers.script("models", Reply(delay=3))
    with pytest.raises(ProviderUnreachable) as caught:
        credential_set(user_id=USER, provider="openai", api_key=new_key())
    assert "did not answer within 0.3 seconds" in caught.value.message


def test_unchecked_key_is_stored_without_calling_the_provider(settings) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1"
    settings.CREDENTIAL_PROVIDER_BASE_URLS = {"openrouter": closed, "openai": closed}
    credential = credential_set(user_id=USER, provider="openai", api_key=new_key(), verify=False)
    assert credential.is_valid


def test_custom_provider_is_checked_at_its_own_url(fake_openai: FakeOpenAI) -> None:
    key = new_key()
    credential_set(user_id=USER, provider="custom", api_key=key, base_url=fake_openai.base_url + "/")
    assert len(fake_openai.calls("models")) == 1
    resolved = credential_resolve(user_id=USER, provider="custom")
    assert resolved.base_url == fake_openai.base_url


def test_setting_again_replaces_the_key_and_resets_its_state(providers: FakeOpenAI) -> None:
    first, second = new_key(), new_key()
    credential_set(user_id=USER, provider="openai", api_key=first)
    credential_resolve(user_id=USER)
    credential_mark_invalid(credential_id=UserCredential.objects.get().pk)
    credential_set(user_id=USER, provider="openai", api_key=second)
    stored = UserCredential.objects.get()
    assert (stored.is_valid, stored.last_used_at, stored.hint) == (True, None, "…" + second[-4:])
    assert credential_resolve(user_id=USER).api_key == second


@pytest.mark.parametrize(
    ("provider", "api_key", "base_url", "field"),
    [
        ("openai", "", None, "api_key"),
        ("openai", "   ", None, "api_key"),
        ("openai", "sk-has a-space-inside", None, "api_key"),
        ("openai", "sk-tab\tinside-the-key", None, "api_key"),
        ("openai", "sk-ünïcödé-key-0000", None, "api_key"),
        ("openai", "short", None, "api_key"),
        ("openai", "k" * 513, None, "api_key"),
        ("openai", "sk-valid-key-0000", "https://example.com/v1", "base_url"),
        ("custom", "sk-valid-key-0000", None, "base_url"),
        ("custom", "sk-valid-key-0000", "ftp://example.com/v1", "base_url"),
        ("custom", "sk-valid-key-0000", "https:///v1", "base_url"),
        ("custom", "sk-valid-key-0000", "https://user:pw@example.com/v1", "base_url"),
        ("custom", "sk-valid-key-0000", "https://example.com:99999/v1", "base_url"),
    ],
)
def test_invalid_input_is_refused_naming_the_field(
    providers: FakeOpenAI, provider: str, api_key: str, base_url: str | None, field: str
) -> None:
    with pytest.raises(ApiError) as caught:
        credential_set(user_id=USER, provider=provider, api_key=api_key, base_url=base_url)
    assert caught.value.status_code == 400
    assert caught.value.message.startswith(f"{field}: ")
    assert field in caught.value.details["fields"]
    if api_key.strip():
        assert api_key.strip() not in str(caught.value)
    assert providers.requests == []
    assert not UserCredential.objects.exists()


def test_surrounding_whitespace_of_a_pasted_key_is_dropped(providers: FakeOpenAI) -> None:
    key = new_key()
    credential_set(user_id=USER, provider="openai", api_key=f"  {key}\n")
    assert credential_resolve(user_id=USER).api_key == key


def test_unknown_provider_names_the_valid_ones() -> None:
    with pytest.raises(UnknownProvider) as caught:
        credential_set(user_id=USER, provider="anthropic", api_key=new_key(), verify=False)
    assert caught.value.status_code == 404
    assert "openrouter, openai, custom" in caught.value.message


# --- checking a stored key -------------------------------------------------------------


def test_verify_marks_a_now_rejected_key_invalid_and_a_working_one_valid(providers: FakeOpenAI) -> None:
    key = new_key()
    credential_set(user_id=USER, provider="openai", api_key=key)
    providers.rejected_keys.add(key)
    valid, message = credential_verify(user_id=USER, provider="openai")
    assert not valid and "rejected" in message
    assert not UserCredential.objects.get().is_valid
    providers.rejected_keys.clear()
    assert credential_verify(user_id=USER, provider="openai") == (True, "The OpenAI key works.")
    assert UserCredential.objects.get().is_valid


def test_verify_leaves_validity_alone_when_the_provider_does_not_answer(providers: FakeOpenAI) -> None:
    credential_set(user_id=USER, provider="openai", api_key=new_key())
    providers.script("models", Reply(status=503))
    with pytest.raises(ProviderUnreachable):
        credential_verify(user_id=USER, provider="openai")
    assert UserCredential.objects.get().is_valid


def test_verify_without_a_stored_key_is_not_found() -> None:
    with pytest.raises(NotFound):
        credential_verify(user_id=USER, provider="openai")


def test_delete_reports_whether_there_was_a_key() -> None:
    credential_set(user_id=USER, provider="openai", api_key=new_key(), verify=False)
    assert credential_delete(user_id=USER, provider="openai") is True
    assert credential_delete(user_id=USER, provider="openai") is False


# --- resolution -----------------------------------------------------------------------------


def test_resolution_order_user_key_for_provider_then_any_user_key_then_operator_then_none(
    settings, providers: FakeOpenAI
) -> None:
    settings.LLM_API_KEY = operator_key = new_key("sk-operator-")
    settings.LLM_BASE_URL = "https://llm.example.net/v1"
    openai_key, custom_key, openrouter_key = new_key(), new_key(), new_key()
    credential_set(user_id=USER, provider="openai", api_key=openai_key, verify=False)
    credential_set(
        user_id=USER, provider="custom", api_key=custom_key, base_url="https://my.example/v1", verify=False
    )

    # The user's key for the provider asked for.
    custom = credential_resolve(user_id=USER, provider="custom")
    assert (custom.api_key, custom.base_url, custom.provider, custom.source) == (
        custom_key,
        "https://my.example/v1",
        "custom",
        "user",
    )
    assert custom.credential_id == UserCredential.objects.get(provider="custom").pk

    # No provider asked for: any of the user's keys, openrouter before openai before custom.
    assert credential_resolve(user_id=USER).api_key == openai_key
    credential_set(user_id=USER, provider="openrouter", api_key=openrouter_key, verify=False)
    preferred = credential_resolve(user_id=USER)
    assert (preferred.api_key, preferred.base_url) == (openrouter_key, providers.base_url)

    # A rejected key is skipped.
    credential_mark_invalid(credential_id=preferred.credential_id)
    assert credential_resolve(user_id=USER).api_key == openai_key

    # No usable key of the user's for that provider (or none at all): the operator's.
    credential_mark_invalid(credential_id=UserCredential.objects.get(provider="openai").pk)
    operator = credential_resolve(user_id=USER, provider="openai")
    assert (operator.api_key, operator.base_url, operator.provider, operator.source) == (
        operator_key,
        "https://llm.example.net/v1",
        "custom",
        "operator",
    )
    assert operator.credential_id is None
    assert credential_resolve(user_id="333").source == "operator"

    # Neither: a clear error.
    settings.LLM_API_KEY = ""
    with pytest.raises(NoCredential) as caught:
        credential_resolve(user_id="333")
    assert caught.value.code == "no_api_key"
    assert caught.value.message == (
        "No API key is configured: add yours with `/tz key set`, or ask the operator to set LLM_API_KEY."
    )


def test_operator_provider_is_named_after_a_known_base_url(settings) -> None:
    settings.LLM_API_KEY = new_key()
    settings.LLM_BASE_URL = settings.CREDENTIAL_PROVIDER_BASE_URLS["openrouter"] + "/"
    assert credential_resolve(user_id=USER).provider == "openrouter"


def test_resolution_records_last_use_at_most_once_a_minute() -> None:
    credential_set(user_id=USER, provider="openai", api_key=new_key(), verify=False)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        credential_resolve(user_id=USER)
        assert UserCredential.objects.get().last_used_at == start
    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        credential_resolve(user_id=USER)
        assert UserCredential.objects.get().last_used_at == start
    later = start + timedelta(minutes=2)
    with time_machine.travel(later, tick=False):
        credential_resolve(user_id=USER)
        assert UserCredential.objects.get().last_used_at == later


def test_resolution_touches_the_row_with_one_update(django_assert_num_queries) -> None:
    credential_set(user_id=USER, provider="openai", api_key=new_key(), verify=False)
    with django_assert_num_queries(2):  # the SELECT, and one UPDATE of last_used_at
        credential_resolve(user_id=USER)
    with django_assert_num_queries(1):  # used a moment ago: no write
        credential_resolve(user_id=USER)


def test_a_caller_that_knows_the_user_has_no_key_gets_the_operator_key_without_a_query(
    settings, django_assert_num_queries
) -> None:
    settings.LLM_API_KEY = "sk-operator-key-0000"
    with django_assert_num_queries(0):
        resolved = credential_resolve(user_id=USER, user_has_keys=False)
    assert (resolved.source, resolved.credential_id) == ("operator", None)


def test_resolved_credential_hides_its_key_and_refuses_to_be_pickled() -> None:
    key = new_key()
    credential_set(user_id=USER, provider="openai", api_key=key, verify=False)
    resolved = credential_resolve(user_id=USER)
    assert key not in repr(resolved) and key not in str(resolved) and key not in f"{resolved}"
    assert "openai" in repr(resolved)
    with pytest.raises(TypeError, match="store credential_id and source"):
        pickle.dumps(resolved)
