"""``/users/{user_id}/profiles/{slug}``: a user's relationship profile with a character."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from gateway.services import token_create
from personalities_app.models import Personality, RelationshipProfile

pytestmark = pytest.mark.django_db

URL = "/users/111/profiles/nova"


@pytest.fixture
def nova() -> Personality:
    return Personality.objects.create(slug="nova", name="Nova")


def client(*, user_id: str = "", service: bool = False) -> APIClient:
    _, raw = token_create(name="t", is_service=service, user_id=user_id)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api


@pytest.mark.usefixtures("nova")
def test_user_creates_reads_changes_and_deletes_their_profile() -> None:
    me = client(user_id="111")
    assert me.get(URL).status_code == 404
    body = {
        "preferred_name": " Ally ",
        "pronouns": "she/her",
        "backstory": "Met on the bridge.",
        "notable_facts": ["Ally flies gliders.", "ally flies gliders.", "Ally hates fog."],
    }
    created = me.put(URL, body, format="json")
    assert created.status_code == 200, created.json()
    data = created.json()
    assert data["personality"] == "nova" and data["user_id"] == "111"
    assert data["preferred_name"] == "Ally"
    assert data["notable_facts"] == ["Ally flies gliders.", "Ally hates fog."]
    patched = me.patch(URL, {"pronouns": "they/them"}, format="json").json()
    assert (patched["pronouns"], patched["preferred_name"]) == ("they/them", "Ally")
    replaced = me.put(URL, {"preferred_name": "Al"}, format="json").json()
    assert (replaced["preferred_name"], replaced["pronouns"], replaced["notable_facts"]) == ("Al", "", [])
    assert me.get(URL).json()["preferred_name"] == "Al"
    assert me.delete(URL).status_code == 204
    assert me.delete(URL).status_code == 404
    assert not RelationshipProfile.objects.exists()


@pytest.mark.usefixtures("nova")
def test_patch_creates_a_missing_profile_and_the_service_token_may_act_for_anyone() -> None:
    bot = client(service=True)
    response = bot.patch(URL, {"preferred_name": "Ally"}, format="json")
    assert response.status_code == 200 and response.json()["preferred_name"] == "Ally"
    assert bot.get(URL).status_code == 200


@pytest.mark.usefixtures("nova")
def test_another_users_token_is_forbidden_and_no_token_is_unauthenticated() -> None:
    other = client(user_id="222")
    for method in ("get", "put", "patch", "delete"):
        response = getattr(other, method)(URL, {}, format="json")
        assert response.status_code == 403, method
        assert response.json()["error"]["code"] == "forbidden"
    assert APIClient().get(URL).status_code == 401


@pytest.mark.usefixtures("nova")
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"preferred_name": "x" * 81}, "preferred_name"),
        ({"preferred_name": "two\nlines"}, "preferred_name"),
        ({"pronouns": "x" * 41}, "pronouns"),
        ({"backstory": "x" * 4001}, "backstory"),
        ({"notable_facts": "not a list"}, "notable_facts"),
        ({"notable_facts": ["x" * 301]}, "notable_facts"),
        ({"notable_facts": [f"fact {i}" for i in range(31)]}, "notable_facts"),
        ({"nickname": "Al", "pronouns": "they/them"}, "nickname"),
    ],
)
def test_invalid_input_is_a_400_naming_the_field(body: dict, field: str) -> None:  # type: ignore[type-arg]
    response = client(user_id="111").put(URL, body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and field in error["details"]["fields"]
    assert error["message"].startswith(field)


@pytest.mark.usefixtures("nova")
@pytest.mark.parametrize("body", [{}, {"nickname": "Al"}])
def test_a_patch_that_names_no_profile_field_is_400_and_creates_nothing(body: dict) -> None:  # type: ignore[type-arg]
    response = client(user_id="111").patch(URL, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert not RelationshipProfile.objects.exists()


def test_unknown_or_hidden_personalities_are_not_found(nova: Personality) -> None:
    me = client(user_id="111")
    assert me.get("/users/111/profiles/ghost").status_code == 404
    assert me.put("/users/111/profiles/ghost", {}, format="json").status_code == 404
    assert me.get("/users/abc/profiles/nova").status_code == 400
    Personality.objects.create(slug="secret", name="Secret", is_public=False, owner_user_id="999")
    for method in ("get", "put", "delete"):
        response = getattr(me, method)("/users/111/profiles/secret", {}, format="json")
        assert response.status_code == 404, method
        assert "secret" in response.json()["error"]["message"]


def test_a_profile_with_an_inactive_character_can_still_be_read_and_deleted(nova: Personality) -> None:
    me = client(user_id="111")
    me.put(URL, {"preferred_name": "Ally"}, format="json")
    Personality.objects.filter(pk=nova.pk).update(is_active=False)
    assert me.get(URL).json()["preferred_name"] == "Ally"
    assert me.patch(URL, {"pronouns": "she/her"}, format="json").status_code == 404
    assert me.delete(URL).status_code == 204


def test_the_endpoints_are_in_the_openapi_schema_with_their_errors() -> None:
    schema = client(user_id="111").get("/api/schema/?format=json").json()
    operations = schema["paths"]["/users/{user_id}/profiles/{slug}"]
    assert set(operations) >= {"get", "put", "patch", "delete"}
    assert set(operations["put"]["responses"]) == {"200", "400", "401", "403", "404"}
    assert set(operations["delete"]["responses"]) == {"204", "400", "401", "403", "404"}


def test_operators_edit_profiles_in_the_admin_with_one_fact_per_line(nova: Personality) -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client

    operator = get_user_model().objects.create_superuser("op", "op@example.com", "pw")
    admin = Client()
    admin.force_login(operator)
    response = admin.post(
        "/admin/personalities_app/relationshipprofile/add/",
        {
            "personality": nova.pk,
            "user_id": "111",
            "preferred_name": "Ally",
            "pronouns": "she/her",
            "backstory": "",
            "notable_facts": "Ally flies gliders.\n\nAlly hates fog.\n",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    profile = RelationshipProfile.objects.get(user_id="111")
    assert profile.notable_facts == ["Ally flies gliders.", "Ally hates fog."]
    bad = admin.post(
        "/admin/personalities_app/relationshipprofile/add/",
        {"personality": nova.pk, "user_id": "not-digits", "notable_facts": ""},
    )
    assert "A Discord id is a string of digits." in bad.content.decode()
    listing = admin.get("/admin/personalities_app/relationshipprofile/?q=Ally").content.decode()
    assert "she/her" in listing
    # What the user then reads through the API:
    assert client(user_id="111").get(URL).json()["notable_facts"] == [
        "Ally flies gliders.",
        "Ally hates fog.",
    ]
