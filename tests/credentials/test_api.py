"""The credentials endpoints of the API contract, and who may call them."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from credentials.models import UserCredential
from credentials.services import credential_set
from tests.fakes.openai_server import FakeOpenAI, Reply

from .conftest import OTHER_USER, USER, client_with, new_key

pytestmark = pytest.mark.django_db

BASE = f"/users/{USER}/credentials/"
STATUS_FIELDS = {"provider", "hint", "is_valid", "created_at", "last_used_at"}


def test_put_checks_and_stores_a_key_and_answers_its_hint(
    user_client: APIClient, providers: FakeOpenAI
) -> None:
    key = new_key()
    response = user_client.put(BASE + "openai", {"api_key": key}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == STATUS_FIELDS
    assert body["provider"] == "openai"
    assert body["hint"] == "…" + key[-4:]
    assert body["is_valid"] is True
    assert body["last_used_at"] is None
    assert len(providers.calls("models")) == 1


def test_put_of_a_rejected_key_is_400_invalid_api_key_and_stores_nothing(
    user_client: APIClient, providers: FakeOpenAI
) -> None:
    providers.rejected_keys.add(key := new_key())
    response = user_client.put(BASE + "openai", {"api_key": key}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_api_key"
    assert "rejected" in error["message"]
    assert not UserCredential.objects.exists()


def test_put_while_the_provider_fails_is_503_and_stores_nothing(
    user_client: APIClient, providers: FakeOpenAI
) -> None:
    providers.script("models", Reply(status=502))
    response = user_client.put(BASE + "openai", {"api_key": new_key()}, format="json")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "provider_unreachable"
    assert not UserCredential.objects.exists()


def test_put_with_verify_false_stores_without_asking(user_client: APIClient, providers: FakeOpenAI) -> None:
    response = user_client.put(BASE + "openai", {"api_key": new_key(), "verify": False}, format="json")
    assert response.status_code == 200
    assert providers.requests == []


def test_put_custom_needs_a_base_url_and_other_providers_refuse_one(
    user_client: APIClient, fake_openai: FakeOpenAI
) -> None:
    missing = user_client.put(BASE + "custom", {"api_key": new_key(), "base_url": None}, format="json")
    assert missing.status_code == 400
    assert missing.json()["error"]["details"]["fields"]["base_url"]
    refused = user_client.put(
        BASE + "openai", {"api_key": new_key(), "base_url": fake_openai.base_url}, format="json"
    )
    assert refused.status_code == 400
    assert "base_url" in refused.json()["error"]["message"]
    ok = user_client.put(
        BASE + "custom", {"api_key": new_key(), "base_url": fake_openai.base_url}, format="json"
    )
    assert ok.status_code == 200


def test_put_without_api_key_names_the_field(user_client: APIClient) -> None:
    response = user_client.put(BASE + "openai", {}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert "api_key" in error["details"]["fields"]


def test_unknown_provider_is_404_listing_the_valid_ones(user_client: APIClient) -> None:
    for response in (
        user_client.put(BASE + "anthropic", {"api_key": new_key()}, format="json"),
        user_client.delete(BASE + "anthropic"),
        user_client.post(BASE + "anthropic/verify"),
    ):
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["code"] == "unknown_provider"
        assert "openrouter, openai, custom" in error["message"]


def test_list_shows_providers_and_hints_only(user_client: APIClient) -> None:
    credential_set(user_id=USER, provider="openai", api_key=new_key(), verify=False)
    credential_set(user_id=USER, provider="openrouter", api_key=new_key(), verify=False)
    credential_set(user_id=OTHER_USER, provider="openai", api_key=new_key(), verify=False)
    response = user_client.get(BASE)
    assert response.status_code == 200
    body = response.json()
    assert [item["provider"] for item in body] == ["openrouter", "openai"]
    assert all(set(item) == STATUS_FIELDS for item in body)


def test_delete_is_204_then_404(user_client: APIClient) -> None:
    credential_set(user_id=USER, provider="openai", api_key=new_key(), verify=False)
    assert user_client.delete(BASE + "openai").status_code == 204
    assert not UserCredential.objects.exists()
    again = user_client.delete(BASE + "openai")
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "not_found"


def test_verify_reports_validity(user_client: APIClient, providers: FakeOpenAI) -> None:
    key = new_key()
    credential_set(user_id=USER, provider="openai", api_key=key, verify=False)
    good = user_client.post(BASE + "openai/verify")
    assert good.status_code == 200
    assert good.json() == {"provider": "openai", "valid": True, "message": "The OpenAI key works."}
    providers.rejected_keys.add(key)
    bad = user_client.post(BASE + "openai/verify").json()
    assert bad["valid"] is False and "rejected" in bad["message"]
    assert user_client.get(BASE).json()[0]["is_valid"] is False
    assert user_client.post(BASE + "openrouter/verify").status_code == 404


def test_malformed_user_id_is_400_naming_it(service_client: APIClient) -> None:
    response = service_client.get("/users/not-a-number/credentials/")
    assert response.status_code == 400
    assert "user_id" in response.json()["error"]["details"]["fields"]


REQUESTS = [
    ("get", BASE, None),
    ("put", BASE + "openai", {"api_key": "sk-auth-test-key-0000", "verify": False}),
    ("delete", BASE + "openai", None),
    ("post", BASE + "openai/verify", None),
]


@pytest.mark.parametrize(("method", "path", "body"), REQUESTS)
def test_no_token_is_401(method: str, path: str, body: dict | None) -> None:
    response = getattr(client_with(None), method)(path, body, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize(("method", "path", "body"), REQUESTS)
def test_another_users_token_is_403(method: str, path: str, body: dict | None, other_user_client) -> None:
    credential_set(user_id=USER, provider="openai", api_key=new_key(), verify=False)
    response = getattr(other_user_client, method)(path, body, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert UserCredential.objects.get().hint != "…0000"  # nothing replaced


@pytest.mark.parametrize(("method", "path", "body"), REQUESTS)
@pytest.mark.parametrize("who", ["user_client", "service_client"])
def test_own_token_and_service_token_are_allowed(
    method: str, path: str, body: dict | None, who: str, request: pytest.FixtureRequest, providers: FakeOpenAI
) -> None:
    credential_set(user_id=USER, provider="openai", api_key=new_key(), verify=False)
    client = request.getfixturevalue(who)
    response = getattr(client, method)(path, body, format="json")
    assert response.status_code in (200, 204), response.content


def test_schema_documents_the_endpoints_and_their_errors(service_client: APIClient) -> None:
    response = service_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    one = paths["/users/{user_id}/credentials/{provider}"]
    assert set(one["put"]["responses"]) == {"200", "400", "401", "403", "404", "503"}
    assert set(one["delete"]["responses"]) == {"204", "400", "401", "403", "404"}
    assert set(paths["/users/{user_id}/credentials/"]["get"]["responses"]) == {"200", "400", "401", "403"}
    verify = paths["/users/{user_id}/credentials/{provider}/verify"]["post"]
    assert set(verify["responses"]) == {"200", "400", "401", "403", "404", "409", "503"}
