"""Acceptance: a search never crosses users, nor reaches another personality's private memories."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from memory.selectors import memory_search, search
from memory.services import memory_add, memory_add_many
from personalities_app.models import Personality

pytestmark = pytest.mark.django_db

ALICE, BOB = "1001", "1002"
FACTS = [
    "I adopted a beagle called Biscuit last spring.",
    "My favourite food is mushroom risotto.",
    "I work night shifts as a nurse in Leeds.",
    "My sister Hannah is getting married in June.",
]


def _texts(hits: list) -> set[str]:  # type: ignore[type-arg]
    return {hit.memory.text for hit in hits}


def _fill(personality: Personality, user_id: str, tag: str) -> None:
    memory_add_many(
        personality=personality, user_id=user_id, items=[{"text": f"{tag}: {fact}"} for fact in FACTS]
    )


@pytest.mark.parametrize("scope", ["private", "shared"])
@pytest.mark.parametrize("exact", [True, False], ids=["exact-scan", "hnsw-scan"])
def test_search_as_one_user_never_returns_another_users_memories(
    fake_embedder: object, make_personality: Callable[..., Personality], scope: str, exact: bool
) -> None:
    lilith = make_personality(memory_scope=scope)
    other = make_personality(memory_scope=scope)
    for person in (lilith, other):
        _fill(person, ALICE, f"alice-{person.slug}")
        _fill(person, BOB, f"bob-{person.slug}")
    for query in ["dog Biscuit", "what food do I like", FACTS[2], "bob-" + lilith.slug]:
        hits = search(personality=lilith, user_id=ALICE, query=query, k=50, exact=exact)
        assert hits, "the search finds Alice's own memories"
        assert all(hit.memory.user_id == ALICE for hit in hits)
        assert not any(hit.memory.text.startswith("bob-") for hit in hits)
        bob_hits = search(personality=lilith, user_id=BOB, query=query, k=50, exact=exact)
        assert bob_hits and all(hit.memory.user_id == BOB for hit in bob_hits)


def test_private_personality_never_sees_nor_shows_other_personalities_memories(
    fake_embedder: object, make_personality: Callable[..., Personality]
) -> None:
    private_x = make_personality(memory_scope="private")
    private_y = make_personality(memory_scope="private")
    shared_z = make_personality(memory_scope="shared")
    for person in (private_x, private_y, shared_z):
        _fill(person, ALICE, person.slug)
    for query in FACTS:
        assert {
            h.memory.personality_id for h in memory_search(personality=private_x, user_id=ALICE, query=query)
        } == {private_x.pk}
        # A shared personality sees shared memories, never a private one's.
        seen = {
            h.memory.personality_id for h in memory_search(personality=shared_z, user_id=ALICE, query=query)
        }
        assert seen == {shared_z.pk}


def test_shared_personalities_see_each_others_memories_for_the_same_user_only(
    fake_embedder: object, make_personality: Callable[..., Personality]
) -> None:
    shared_a = make_personality(memory_scope="shared")
    shared_b = make_personality(memory_scope="shared")
    memory_add(personality=shared_a, user_id=ALICE, text="I am allergic to peanuts.")
    memory_add(personality=shared_a, user_id=BOB, text="I am allergic to cats.")
    hits = memory_search(personality=shared_b.pk, user_id=ALICE, query="allergic")
    assert _texts(hits) == {"I am allergic to peanuts."}


def test_switching_to_shared_does_not_publish_memories_written_while_private(
    fake_embedder: object, make_personality: Callable[..., Personality]
) -> None:
    first = make_personality(memory_scope="private")
    second = make_personality(memory_scope="shared")
    memory_add(personality=first, user_id=ALICE, text="A secret told in private: I hate my job.")
    first.memory_scope = "shared"
    first.save()
    assert memory_search(personality=second, user_id=ALICE, query="secret job") == []
    # It still remembers it itself.
    assert _texts(memory_search(personality=first, user_id=ALICE, query="secret job")) == {
        "A secret told in private: I hate my job."
    }


def test_a_personality_turned_private_hides_its_shared_memories_from_the_others(
    fake_embedder: object, make_personality: Callable[..., Personality]
) -> None:
    first = make_personality(memory_scope="shared")
    second = make_personality(memory_scope="shared")
    memory_add(personality=first, user_id=ALICE, text="I play the cello in an orchestra.")
    assert memory_search(personality=second, user_id=ALICE, query="cello")
    first.memory_scope = "private"
    first.save()
    assert memory_search(personality=second, user_id=ALICE, query="cello") == []
