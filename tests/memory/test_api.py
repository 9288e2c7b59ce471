"""``GET/DELETE /users/{user_id}/memories``: auth, paging, filters, forgetting."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from gateway.services import token_create
from memory.models import Memory
from memory.services import memory_add_many
from personalities_app.models import Personality

pytestmark = pytest.mark.django_db

ALICE, BOB = "3001", "3002"
T0 = datetime(2025, 3, 1, tzinfo=UTC)


def _client(*, service: bool = False, user_id: str = "") -> APIClient:
    _, raw = token_create(name="t", is_service=service, user_id=user_id)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def people(fake_embedder: object, make_personality: Callable[..., Personality]) -> dict[str, Personality]:
    lilith = make_personality(slug="lilith", name="Lilith")
    ada = make_personality(slug="ada", name="Ada")
    memory_add_many(
        personality=lilith,
        user_id=ALICE,
        items=[{"text": f"lilith memory {i}", "created_at": T0 + timedelta(minutes=i)} for i in range(25)],
    )
    memory_add_many(
        personality=ada,
        user_id=ALICE,
        items=[
            {"text": f"ada memory {i}", "created_at": T0 + timedelta(hours=1, minutes=i)} for i in range(3)
        ],
    )
    memory_add_many(personality=lilith, user_id=BOB, items=[{"text": "bob memory"}])
    return {"lilith": lilith, "ada": ada}


def test_listing_needs_a_token(people: object) -> None:
    response = APIClient().get(f"/users/{ALICE}/memories")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Bearer tzr_not-a-token")
    assert wrong.get(f"/users/{ALICE}/memories").status_code == 401
    assert APIClient().delete(f"/users/{ALICE}/memories").status_code == 401
    assert Memory.objects.count() == 29


def test_a_user_token_may_not_read_or_forget_another_users_memories(people: object) -> None:
    bob = _client(user_id=BOB)
    for response in (bob.get(f"/users/{ALICE}/memories"), bob.delete(f"/users/{ALICE}/memories")):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
    assert Memory.objects.filter(user_id=ALICE).count() == 28


def test_list_is_paged_newest_first_with_the_contract_fields(people: object) -> None:
    client = _client(user_id=ALICE)
    first = client.get(f"/users/{ALICE}/memories", {"page_size": 10}).json()
    assert first["count"] == 28
    assert first["previous"] is None and "page=2" in first["next"]
    assert [r["text"] for r in first["results"][:4]] == [
        "ada memory 2",
        "ada memory 1",
        "ada memory 0",
        "lilith memory 24",
    ]
    row = first["results"][0]
    assert set(row) == {"id", "personality", "text", "source", "created_at"}
    assert row["personality"] == "ada" and row["source"] == "conversation"
    last = client.get(f"/users/{ALICE}/memories", {"page_size": 10, "page": 3}).json()
    assert len(last["results"]) == 8 and last["next"] is None
    default = client.get(f"/users/{ALICE}/memories").json()
    assert len(default["results"]) == 20
    assert not any(r["text"] == "bob memory" for r in default["results"])


def test_list_filters_by_personality(people: object) -> None:
    service = _client(service=True)
    body = service.get(f"/users/{ALICE}/memories", {"personality": "ada"}).json()
    assert body["count"] == 3 and {r["personality"] for r in body["results"]} == {"ada"}
    unknown = service.get(f"/users/{ALICE}/memories", {"personality": "nobody"})
    assert unknown.status_code == 404 and "nobody" in unknown.json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/users/alice/memories", {}, "user_id"),
        (f"/users/{ALICE}/memories", {"page_size": 0}, "page_size"),
        (f"/users/{ALICE}/memories", {"page_size": 101}, "page_size"),
        (f"/users/{ALICE}/memories", {"page": "x"}, "page"),
    ],
)
def test_invalid_list_parameters_are_400_naming_the_field(
    people: object, path: str, params: dict[str, object], field: str
) -> None:
    response = _client(service=True).get(path, params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (
        error["code"] == "invalid_request"
        and field in error["message"]
        and field in error["details"]["fields"]
    )


def test_page_past_the_end_is_404(people: object) -> None:
    assert _client(service=True).get(f"/users/{ALICE}/memories", {"page": 9}).status_code == 404


def test_delete_by_ids_forgets_only_those_of_that_user(people: dict[str, Personality]) -> None:
    client = _client(user_id=ALICE)
    mine = list(Memory.objects.filter(user_id=ALICE).order_by("id").values_list("pk", flat=True)[:2])
    bobs = list(Memory.objects.filter(user_id=BOB).values_list("pk", flat=True))
    response = client.delete(f"/users/{ALICE}/memories", {"ids": mine + bobs}, format="json")
    assert response.status_code == 200 and response.json() == {"deleted": 2}
    assert not Memory.objects.filter(pk__in=mine).exists()
    assert Memory.objects.filter(pk__in=bobs).count() == 1


def test_delete_by_personality_then_all(people: dict[str, Personality]) -> None:
    client = _client(service=True)
    response = client.delete(f"/users/{ALICE}/memories?personality=ada")
    assert response.json() == {"deleted": 3}
    assert not Memory.objects.filter(user_id=ALICE, personality=people["ada"]).exists()
    assert client.delete(f"/users/{ALICE}/memories").json() == {"deleted": 25}
    assert Memory.objects.filter(user_id=ALICE).count() == 0
    assert Memory.objects.filter(user_id=BOB).count() == 1
    assert client.delete(f"/users/{ALICE}/memories").json() == {"deleted": 0}


def test_delete_with_personality_and_ids_combined(people: dict[str, Personality]) -> None:
    client = _client(service=True)
    lilith_one = Memory.objects.filter(user_id=ALICE, personality=people["lilith"]).first()
    ada_one = Memory.objects.filter(user_id=ALICE, personality=people["ada"]).first()
    response = client.delete(
        f"/users/{ALICE}/memories?personality=lilith", {"ids": [lilith_one.pk, ada_one.pk]}, format="json"
    )
    assert response.json() == {"deleted": 1}
    assert Memory.objects.filter(pk=ada_one.pk).exists()


@pytest.mark.parametrize("body", [{"ids": []}, {"ids": ["x"]}, {"ids": [0]}, {"ids": "1"}, [1, 2]])
def test_delete_with_bad_ids_is_400_and_forgets_nothing(people: object, body: object) -> None:
    response = _client(service=True).delete(f"/users/{ALICE}/memories", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert Memory.objects.count() == 29


def test_delete_for_an_unknown_personality_is_404(people: object) -> None:
    response = _client(service=True).delete(f"/users/{ALICE}/memories?personality=nobody")
    assert response.status_code == 404
    assert Memory.objects.count() == 29


def test_memory_endpoints_are_documented_with_their_errors() -> None:
    client = APIClient()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operations = schema["paths"]["/users/{user_id}/memories"]
    assert set(operations["get"]["responses"]) >= {"200", "400", "401", "403", "404"}
    assert set(operations["delete"]["responses"]) >= {"200", "400", "401", "403", "404"}
