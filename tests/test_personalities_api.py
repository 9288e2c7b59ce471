"""The personalities, channel activation and user selection endpoints."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from gateway.services import token_create
from personalities_app.services import activation_set, selection_set

from .personality_factories import make_personality

PUBLIC_KEYS = {"slug", "name", "display_name", "aliases", "avatar", "greeting", "error_message", "is_active"}


class Api:
    """A test client that sends a bearer token."""

    def __init__(self, raw: str | None) -> None:
        self.client = Client()
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"} if raw else {}

    def get(self, path: str, **params: str) -> Any:
        return self.client.get(path, params, **self.headers)

    def put(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.put(path, body, content_type="application/json", **self.headers)

    def delete(self, path: str) -> Any:
        return self.client.delete(path, **self.headers)


@pytest.fixture
def service() -> Api:
    return Api(token_create(name="bot", is_service=True)[1])


@pytest.fixture
def alice() -> Api:
    return Api(token_create(name="alice", user_id="111")[1])


@pytest.fixture
def bob() -> Api:
    return Api(token_create(name="bob", user_id="222")[1])


@pytest.fixture
def anonymous() -> Api:
    return Api(None)


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


# --- Personalities -------------------------------------------------------------------------


@pytest.mark.django_db
def test_list_has_public_active_personalities_with_public_fields_only(alice: Api) -> None:
    make_personality(slug="nova", name="Nova", system_prompt="secret sauce", aliases=["N"])
    make_personality(slug="hidden", is_public=False, owner_user_id="111")
    make_personality(slug="off", is_active=False)

    response = alice.get("/personalities/")

    assert response.status_code == 200
    (item,) = response.json()
    assert set(item) == PUBLIC_KEYS
    assert item["slug"] == "nova" and item["aliases"] == ["N"] and item["is_active"] is True
    assert "secret sauce" not in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/personalities/", "/personalities/nova"])
def test_personalities_need_a_token(anonymous: Api, path: str) -> None:
    make_personality(slug="nova")
    assert_error(anonymous.get(path), 401, "unauthenticated")
    assert_error(Api("tzr_wrong").get(path), 401, "unauthenticated")


@pytest.mark.django_db
def test_detail_shows_private_internals_only_to_the_service_and_the_owner(
    service: Api, alice: Api, bob: Api
) -> None:
    make_personality(slug="nova", system_prompt="secret sauce", owner_user_id="111", model="m/1")

    public = bob.get("/personalities/nova")
    assert public.status_code == 200
    assert set(public.json()) == PUBLIC_KEYS
    assert "secret sauce" not in public.content.decode()

    for client in (service, alice):
        private = client.get("/personalities/nova").json()
        assert private["system_prompt"] == "secret sauce"
        assert private["model"] == "m/1" and private["effective_model"] == "m/1"
        assert set(private) > PUBLIC_KEYS and "owner_user_id" in private


@pytest.mark.django_db
def test_a_private_personality_is_invisible_to_other_users(service: Api, alice: Api, bob: Api) -> None:
    make_personality(slug="mine", is_public=False, owner_user_id="111")
    assert alice.get("/personalities/mine").status_code == 200
    assert service.get("/personalities/mine").status_code == 200
    error = assert_error(bob.get("/personalities/mine"), 404, "not_found")
    assert error["message"] == "There is no active personality called 'mine'."


@pytest.mark.django_db
@pytest.mark.parametrize("slug", ["nobody", "off"])
def test_unknown_or_inactive_personality_is_404(service: Api, slug: str) -> None:
    make_personality(slug="off", is_active=False)
    assert_error(service.get(f"/personalities/{slug}"), 404, "not_found")


# --- Channel activation ---------------------------------------------------------------------


@pytest.mark.django_db
def test_service_activates_reads_and_deactivates_a_channel(service: Api, alice: Api) -> None:
    make_personality(slug="nova")
    assert_error(alice.get("/channels/100/activation"), 404, "not_found")

    response = service.put(
        "/channels/100/activation", {"personality": "nova", "guild_id": "9", "activated_by": "111"}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"channel_id", "personality", "guild_id", "activated_by", "created_at"}
    assert body | {"created_at": None} == {
        "channel_id": "100",
        "personality": "nova",
        "guild_id": "9",
        "activated_by": "111",
        "created_at": None,
    }

    assert alice.get("/channels/100/activation").json()["personality"] == "nova"
    thread = alice.get("/channels/900/activation", parent_channel_id="100")
    assert thread.status_code == 200 and thread.json()["channel_id"] == "100"

    assert service.delete("/channels/100/activation").status_code == 204
    assert_error(service.delete("/channels/100/activation"), 404, "not_found")
    assert_error(alice.get("/channels/100/activation"), 404, "not_found")


@pytest.mark.django_db
def test_guild_id_null_is_returned_as_null(service: Api) -> None:
    make_personality(slug="nova")
    body = service.put("/channels/100/activation", {"personality": "nova", "guild_id": None}).json()
    assert body["guild_id"] is None and body["activated_by"] == ""


@pytest.mark.django_db
def test_only_the_service_token_changes_activations(alice: Api, anonymous: Api) -> None:
    make_personality(slug="nova")
    activation_set(channel_id="100", personality=make_personality())
    for response in (
        alice.put("/channels/100/activation", {"personality": "nova"}),
        alice.delete("/channels/100/activation"),
    ):
        error = assert_error(response, 403, "forbidden")
        assert "service token" in error["message"]
    assert_error(anonymous.put("/channels/100/activation", {"personality": "nova"}), 401, "unauthenticated")
    assert_error(anonymous.get("/channels/100/activation"), 401, "unauthenticated")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/channels/abc/activation", {"personality": "nova"}, "channel_id"),
        ("/channels/100/activation", {"personality": "nova", "guild_id": "x1"}, "guild_id"),
        ("/channels/100/activation", {"personality": "nova", "activated_by": "me"}, "activated_by"),
        ("/channels/100/activation", {}, "personality"),
    ],
)
def test_invalid_activation_input_is_400_naming_the_field(
    service: Api, path: str, body: dict[str, Any], field: str
) -> None:
    make_personality(slug="nova")
    error = assert_error(service.put(path, body), 400, "invalid_request")
    assert field in error["message"] and field in error["details"]["fields"]


@pytest.mark.django_db
def test_activating_an_unknown_or_someone_elses_private_personality_is_404(service: Api) -> None:
    make_personality(slug="mine", is_public=False, owner_user_id="111")
    assert_error(service.put("/channels/1/activation", {"personality": "nobody"}), 404, "not_found")
    assert_error(
        service.put("/channels/1/activation", {"personality": "mine", "activated_by": "222"}),
        404,
        "not_found",
    )
    ok = service.put("/channels/1/activation", {"personality": "mine", "activated_by": "111"})
    assert ok.status_code == 200


# --- User selection ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_user_selects_per_channel_and_globally_with_their_own_token(alice: Api) -> None:
    make_personality(slug="nova")
    make_personality(slug="pip")
    assert_error(alice.get("/users/111/selection"), 404, "not_found")

    response = alice.put("/users/111/selection", {"personality": "nova"})
    assert response.status_code == 200 and response.json() == {"personality": "nova", "channel_id": None}
    response = alice.put("/users/111/selection", {"personality": "pip", "channel_id": "100"})
    assert response.json() == {"personality": "pip", "channel_id": "100"}

    assert alice.get("/users/111/selection", channel_id="100").json() == {
        "personality": "pip",
        "channel_id": "100",
    }
    assert alice.get("/users/111/selection", channel_id="200").json() == {
        "personality": "nova",
        "channel_id": None,
    }
    assert alice.get("/users/111/selection").json()["personality"] == "nova"

    assert alice.delete("/users/111/selection?channel_id=100").status_code == 204
    assert alice.get("/users/111/selection", channel_id="100").json()["channel_id"] is None
    assert alice.delete("/users/111/selection").status_code == 204
    assert_error(alice.delete("/users/111/selection"), 404, "not_found")
    assert_error(alice.get("/users/111/selection", channel_id="100"), 404, "not_found")


@pytest.mark.django_db
def test_the_service_token_acts_for_any_user_and_others_get_403(service: Api, bob: Api) -> None:
    make_personality(slug="nova")
    assert service.put("/users/111/selection", {"personality": "nova"}).status_code == 200
    assert service.get("/users/111/selection").json()["personality"] == "nova"
    for response in (
        bob.get("/users/111/selection"),
        bob.put("/users/111/selection", {"personality": "nova"}),
        bob.delete("/users/111/selection"),
    ):
        assert_error(response, 403, "forbidden")
    assert_error(Api(None).get("/users/111/selection"), 401, "unauthenticated")


@pytest.mark.django_db
def test_selecting_unknown_inactive_or_another_users_private_personality_is_404(alice: Api) -> None:
    make_personality(slug="off", is_active=False)
    make_personality(slug="bobs", is_public=False, owner_user_id="222")
    make_personality(slug="mine", is_public=False, owner_user_id="111")
    for slug in ("nobody", "off", "bobs"):
        assert_error(alice.put("/users/111/selection", {"personality": slug}), 404, "not_found")
    assert alice.put("/users/111/selection", {"personality": "mine"}).status_code == 200


@pytest.mark.django_db
def test_invalid_selection_input_is_400_naming_the_field(service: Api) -> None:
    make_personality(slug="nova")
    error = assert_error(
        service.put("/users/111/selection", {"personality": "nova", "channel_id": "#1"}),
        400,
        "invalid_request",
    )
    assert "channel_id" in error["details"]["fields"]
    error = assert_error(service.get("/users/111/selection", channel_id="general"), 400, "invalid_request")
    assert "channel_id" in error["message"]
    error = assert_error(service.get("/users/alice/selection"), 400, "invalid_request")
    assert "user_id" in error["message"]


@pytest.mark.django_db
def test_a_selection_of_a_deactivated_personality_is_not_returned(alice: Api) -> None:
    nova = make_personality(slug="nova")
    selection_set(user_id="111", personality=nova)
    nova.is_active = False
    nova.save()
    assert_error(alice.get("/users/111/selection"), 404, "not_found")


# --- OpenAPI ------------------------------------------------------------------------------------


def test_every_endpoint_documents_its_error_responses() -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    expected = {
        ("/personalities/", "get"): {"200", "401"},
        ("/personalities/{slug}", "get"): {"200", "401", "404"},
        ("/channels/{channel_id}/activation", "get"): {"200", "400", "401", "404"},
        ("/channels/{channel_id}/activation", "put"): {"200", "400", "401", "403", "404"},
        ("/channels/{channel_id}/activation", "delete"): {"204", "400", "401", "403", "404"},
        ("/users/{user_id}/selection", "get"): {"200", "400", "401", "403", "404"},
        ("/users/{user_id}/selection", "put"): {"200", "400", "401", "403", "404"},
        ("/users/{user_id}/selection", "delete"): {"204", "400", "401", "403", "404"},
    }
    for (path, method), codes in expected.items():
        responses = schema["paths"][path][method]["responses"]
        assert set(responses) == codes, (path, method)
        for code in codes - {"200", "204"}:
            assert responses[code]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
