"""``memory_recall``: the personality's settings, the similarity floor and the history window."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from memory.selectors import fuse, is_in_history, memory_recall, search, text_query
from memory.services import memory_add
from personalities_app.models import Personality
from tests.fakes.openai_server import FakeOpenAI, Reply

pytestmark = pytest.mark.django_db

ALICE = "4001"


def test_recall_is_empty_when_the_personality_has_memory_disabled(
    fake_embedder: object, make_personality: Callable[..., Personality]
) -> None:
    muted = make_personality(memory_enabled=False, memory_threshold=0.0)
    memory_add(personality=muted, user_id=ALICE, text="I live in Haifa.")
    assert memory_recall(personality=muted, user_id=ALICE, query="I live in Haifa.") == []


def test_recall_returns_at_most_top_k(
    fake_embedder: object, make_personality: Callable[..., Personality]
) -> None:
    lilith = make_personality(memory_top_k=3, memory_threshold=0.0)
    for i in range(8):
        memory_add(personality=lilith, user_id=ALICE, text=f"Alice mentioned the lighthouse, note {i}")
    hits = memory_recall(personality=lilith, user_id=ALICE, query="lighthouse")
    assert len(hits) == 3
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_recall_applies_the_similarity_floor(
    fake_embedder: object, make_personality: Callable[..., Personality]
) -> None:
    # The fake's vectors of different texts are nearly orthogonal; the same text has similarity 1.
    lilith = make_personality(memory_threshold=0.5)
    memory_add(personality=lilith, user_id=ALICE, text="I keep bees on my roof.")
    memory_add(personality=lilith, user_id=ALICE, text="The bees swarmed in May.")
    hits = memory_recall(personality=lilith, user_id=ALICE, query="I keep bees on my roof.")
    assert [h.memory.text for h in hits] == ["I keep bees on my roof."]
    assert hits[0].similarity == pytest.approx(1.0, abs=1e-5)
    lilith.memory_threshold = 0.0
    lilith.save()
    assert len(memory_recall(personality=lilith, user_id=ALICE, query="I keep bees on my roof.")) == 2


def test_recall_leaves_out_memories_present_in_the_history_window(
    fake_embedder: object, make_personality: Callable[..., Personality]
) -> None:
    lilith = make_personality(name="Lilith", memory_threshold=0.0, memory_top_k=2)
    in_window = memory_add(
        personality=lilith, user_id=ALICE, text="Alice: I am learning the violin\nLilith: How wonderful!"
    ).text
    memory_add(personality=lilith, user_id=ALICE, text="Alice: my violin teacher is strict\nLilith: Hang on.")
    memory_add(personality=lilith, user_id=ALICE, text="Alice: violin practice hurts\nLilith: Rest a bit.")
    memory_add(personality=lilith, user_id=ALICE, text="Alice: I sold my old violin\nLilith: Oh no.")
    history = ["i am   LEARNING the violin", "How wonderful!", "ok"]
    hits = memory_recall(personality=lilith, user_id=ALICE, query="violin", exclude_texts=history)
    assert len(hits) == 2, "the prompt still gets top_k memories"
    assert in_window not in {h.memory.text for h in hits}


@pytest.mark.parametrize(
    ("memory", "history", "present"),
    [
        ("Alice: I love jazz and blues\nLilith: Me too!", ["I love jazz and blues"], True),
        ("Alice: I love jazz and blues\nLilith: Me too, very much!", ["me too, very much!"], True),
        ("Alice: I love jazz and blues\nLilith: Me too!", ["  i LOVE   jazz and blues  "], True),
        ("Alice: line one of it\nline two of it\nLilith: ok", ["line one of it\nline two of it"], True),
        ("My cat is called Pixel.", ["my cat is called pixel."], True),
        ("Alice: ok\nLilith: Noted.", ["ok"], False),
        ("Alice: ok\nLilith: Noted.", ["Alice: ok\nLilith: Noted."], True),
        ("Alice: I love jazz and blues a lot\nLilith: Me too!", ["I love jazz and blues"], False),
        ("Alice: we both love jazz and blues\nLilith: yes", ["love jazz and blues"], False),
        ("Alice: I love jazz and blues\nLilith: Me too!", [], False),
    ],
)
def test_history_matching_rule(memory: str, history: list[str], present: bool) -> None:
    from memory.selectors import _utterance_key

    assert is_in_history(memory, [_utterance_key(h) for h in history]) is present


def test_hybrid_search_finds_by_words_what_the_vectors_miss(
    fake_embedder: object, make_personality: Callable[..., Personality]
) -> None:
    lilith = make_personality()
    target = memory_add(personality=lilith, user_id=ALICE, text="My grandmother grew up in Thessaloniki.").pk
    for i in range(30):
        memory_add(personality=lilith, user_id=ALICE, text=f"Unrelated chatter number {i}")
    query = "where did my grandmother grow up?"
    assert search(personality=lilith, user_id=ALICE, query=query, mode="text")[0].memory.pk == target
    assert search(personality=lilith, user_id=ALICE, query=query)[0].memory.pk == target


def test_text_query_matches_any_word_and_cannot_inject_syntax() -> None:
    assert (
        text_query("What's my dog's name, OR -not \"this\"?")
        == "what or s or my or dog or s or name or not or this"
    )
    assert text_query("!!!") == ""


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    scores = fuse([[1, 2, 3], [3, 4]], k=60)
    assert max(scores, key=scores.get) == 3  # type: ignore[arg-type]
    assert scores[1] == pytest.approx(1 / 61)


def test_a_large_scope_is_searched_through_the_hnsw_index_with_the_same_results(
    fake_embedder: object, make_personality: Callable[..., Personality], monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from memory import selectors

    lilith, ada = make_personality(), make_personality()
    for i in range(40):
        memory_add(personality=lilith, user_id=ALICE, text=f"Lilith heard fact {i}")
        memory_add(personality=ada, user_id=ALICE, text=f"Ada heard fact {i}")
    query = "Lilith heard fact 7"
    exact = search(personality=lilith, user_id=ALICE, query=query, mode="vector", exact=True)
    assert selectors.scope_is_small(selectors._scope(lilith, ALICE))
    monkeypatch.setattr(selectors, "EXACT_SCAN_MAX", 10)
    assert not selectors.scope_is_small(selectors._scope(lilith, ALICE))
    with CaptureQueriesContext(connection) as queries:
        automatic = search(personality=lilith, user_id=ALICE, query=query, mode="vector")
    assert any("hnsw.iterative_scan" in q["sql"] for q in queries.captured_queries)
    assert [h.memory.pk for h in automatic] == [h.memory.pk for h in exact]
    assert automatic[0].memory.text == query
    assert all(h.memory.personality_id == lilith.pk for h in automatic)
    # A scope that is a small share of a big table stays exact, however large.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE memory_memory")
    assert not selectors.scope_is_small(selectors._scope(lilith, ALICE))
    # 40 of 80 rows: large enough for the index when the share asked is at most half.
    monkeypatch.setattr(selectors, "HNSW_MIN_FRACTION", 0.3)
    assert not selectors.scope_is_small(selectors._scope(lilith, ALICE))
    monkeypatch.setattr(selectors, "HNSW_MIN_FRACTION", 0.9)
    assert selectors.scope_is_small(selectors._scope(lilith, ALICE))


def test_small_scope_single_read_gives_the_same_candidates_as_the_separate_queries(
    fake_embedder: object, make_personality: Callable[..., Personality]
) -> None:
    from memory import selectors
    from memory.embeddings import embed

    lilith = make_personality(memory_scope="shared")
    ada = make_personality(memory_scope="shared")
    for i in range(30):
        memory_add(personality=lilith, user_id=ALICE, text=f"Alice's garden has {i} tulips and roses")
        memory_add(personality=ada, user_id=ALICE, text=f"Alice painted {i} pictures of roses")
    scope = selectors._scope(lilith, ALICE)
    for query in ["roses in the garden", "tulips", "pictures"]:
        vector = embed([query])[0]
        by_vector, by_text, similarity = selectors._small_scope_candidates(scope, vector, query, 20)
        assert by_vector == [pk for pk, _ in selectors.vector_candidates(scope, vector, 20, exact=True)]
        assert by_text == [pk for pk, _ in selectors.text_candidates(scope, query, 20, small=True)]
        assert set(similarity) == set(by_vector) | set(by_text)


def test_recall_keeps_word_matches_that_cannot_be_held_to_the_floor(
    fake_embedder: FakeOpenAI, make_personality: Callable[..., Personality]
) -> None:
    lilith = make_personality(memory_threshold=0.5)
    ready = memory_add(personality=lilith, user_id=ALICE, text="Alice keeps a tortoise named Gerald.")
    memory_add(personality=lilith, user_id=ALICE, text="Alice dislikes the rain.")
    fake_embedder.script("embeddings", *[Reply(status=500)] * 3)
    pending = memory_add(personality=lilith, user_id=ALICE, text="Gerald the tortoise is eighty years old.")
    assert pending.embedding is None
    # The pending memory has no similarity; its words match, so it is recalled.
    hits = memory_recall(personality=lilith, user_id=ALICE, query="how old is Gerald")
    assert {h.memory.pk for h in hits} == {pending.pk}
    # With the embedder down at query time, recall falls back to word matches.
    fake_embedder.script("embeddings", *[Reply(status=500)] * 3)
    hits = memory_recall(personality=lilith, user_id=ALICE, query="Gerald the tortoise")
    assert {h.memory.pk for h in hits} == {ready.pk, pending.pk}
    assert all(h.similarity is None for h in hits)
