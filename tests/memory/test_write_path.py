"""Remembering and forgetting: idempotent writes, pending embeddings finished later, forget."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.db import connection

from memory.models import EmbeddingStatus, Memory
from memory.selectors import memory_search, search
from memory.services import memory_add, memory_add_many, memory_forget
from memory.tasks import memory_embed_pending_task, memory_store_exchange
from personalities_app.models import Personality
from tests.fakes.openai_server import FakeOpenAI, Reply

pytestmark = pytest.mark.django_db

ALICE, BOB = "2001", "2002"


def _exchange(personality: Personality, **overrides: object) -> tuple[object, ...]:
    values: dict[str, object] = {
        "personality_id": personality.pk,
        "user_id": ALICE,
        "user_name": "Alice",
        "user_message": "My cat is called Pixel and she hates thunder.",
        "character_name": personality.name,
        "reply": "Poor Pixel! I will remember her name.",
        "source_id": "555:556",
        "channel_id": "77",
        "guild_id": None,
    }
    values.update(overrides)
    return tuple(values.values())


def test_store_exchange_task_run_twice_stores_one_memory(
    fake_embedder: FakeOpenAI, make_personality: Callable[..., Personality]
) -> None:
    lilith = make_personality(name="Lilith")
    first = memory_store_exchange.apply(args=_exchange(lilith)).get()
    second = memory_store_exchange.apply(args=_exchange(lilith)).get()
    assert first == second
    memory = Memory.objects.get()
    assert memory.text == (
        "Alice: My cat is called Pixel and she hates thunder.\nLilith: Poor Pixel! I will remember her name."
    )
    assert (memory.user_id, memory.personality_id, memory.channel_id, memory.guild_id) == (
        ALICE,
        lilith.pk,
        "77",
        "",
    )
    assert (memory.source, memory.source_id, memory.embedding_status) == ("conversation", "555:556", "ready")
    assert len(memory.embedding) == settings.EMBEDDING_DIMENSIONS


def test_store_exchange_skips_a_personality_whose_memory_is_disabled(
    fake_embedder: FakeOpenAI, make_personality: Callable[..., Personality]
) -> None:
    muted = make_personality(memory_enabled=False)
    assert memory_store_exchange.apply(args=_exchange(muted)).get() is None
    assert memory_store_exchange.apply(args=(999_999, *_exchange(muted)[1:])).get() is None
    assert not Memory.objects.exists()


def test_failing_embedder_leaves_a_pending_memory_that_the_periodic_task_completes(
    fake_embedder: FakeOpenAI, make_personality: Callable[..., Personality]
) -> None:
    lilith = make_personality()
    # The client retries twice: three failures make the embedding fail.
    fake_embedder.script("embeddings", *[Reply(status=500)] * 3)
    memory_id = memory_store_exchange.apply(args=_exchange(lilith)).get()
    memory = Memory.objects.get(pk=memory_id)
    assert memory.embedding is None
    assert memory.embedding_status == EmbeddingStatus.PENDING
    assert memory.embedding_attempts == 1
    assert "HTTP 500" in memory.embedding_error
    assert "sk-test" not in memory.embedding_error
    # Still findable by its words while pending.
    assert [h.memory.pk for h in memory_search(personality=lilith, user_id=ALICE, query="Pixel thunder")] == [
        memory_id
    ]

    # The embedder is still down at the first periodic run: the memory stays pending.
    fake_embedder.script("embeddings", *[Reply(status=503)] * 3)
    assert memory_embed_pending_task.apply().get() == 0
    memory.refresh_from_db()
    assert (memory.embedding_status, memory.embedding_attempts) == ("pending", 2)

    assert memory_embed_pending_task.apply().get() == 1
    memory.refresh_from_db()
    assert memory.embedding_status == EmbeddingStatus.READY
    assert len(memory.embedding) == settings.EMBEDDING_DIMENSIONS
    assert memory.embedding_error == ""
    exact = search(personality=lilith, user_id=ALICE, query=memory.text, mode="vector")
    assert exact[0].memory.pk == memory_id and exact[0].similarity == pytest.approx(1.0, abs=1e-5)


def test_periodic_task_is_scheduled_by_beat() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["memory-embed-pending"]
    assert entry["task"] == memory_embed_pending_task.name


def test_memory_add_many_embeds_in_batches_and_skips_known_texts(
    fake_embedder: FakeOpenAI, make_personality: Callable[..., Personality]
) -> None:
    lilith = make_personality()
    memory_add(personality=lilith, user_id=ALICE, text="fact 0")
    items = [
        {"text": f"fact {i}", "source": "import", "created_at": datetime(2024, 1, 1, tzinfo=UTC)}
        for i in range(150)
    ]
    items.append({"text": "  fact   1 "})  # the same text once normalised
    assert memory_add_many(personality=lilith, user_id=ALICE, items=items) == 149
    assert memory_add_many(personality=lilith, user_id=ALICE, items=items) == 0
    assert Memory.objects.filter(personality=lilith, user_id=ALICE).count() == 150
    imported = Memory.objects.get(text="fact 7")
    assert imported.source == "import"
    assert imported.created_at == datetime(2024, 1, 1, tzinfo=UTC)
    requests = fake_embedder.calls("embeddings")
    assert len(requests) == 1 + 3  # one for memory_add, then batches of at most 64
    assert max(len(r.body["input"]) for r in requests) == 64


def test_memory_add_validates_before_storing(make_personality: Callable[..., Personality]) -> None:
    lilith = make_personality()
    with pytest.raises(ValueError, match="text"):
        memory_add(personality=lilith, user_id=ALICE, text="   ")
    with pytest.raises(ValueError, match="source"):
        memory_add(personality=lilith, user_id=ALICE, text="x", source="gossip")
    with pytest.raises(ValueError, match="user_id"):
        memory_add(personality=lilith, user_id="alice", text="x")
    assert not Memory.objects.exists()


def test_same_text_is_stored_once_per_scope_but_in_each_scope(
    fake_embedder: FakeOpenAI, make_personality: Callable[..., Personality]
) -> None:
    lilith, ada = make_personality(), make_personality()
    for person, user in [(lilith, ALICE), (lilith, ALICE), (lilith, BOB), (ada, ALICE)]:
        memory_add(personality=person, user_id=user, text="I like rain.")
    assert Memory.objects.count() == 3


def test_forget_removes_rows_and_vectors_and_later_searches_find_none(
    fake_embedder: FakeOpenAI, make_personality: Callable[..., Personality]
) -> None:
    lilith, ada = make_personality(), make_personality()
    texts = [f"Alice told Lilith secret number {i}" for i in range(5)]
    for text in texts:
        memory_add(personality=lilith, user_id=ALICE, text=text)
        memory_add(personality=ada, user_id=ALICE, text=text)
        memory_add(personality=lilith, user_id=BOB, text=text)
    one = Memory.objects.filter(personality=ada, user_id=ALICE).first()
    assert memory_forget(user_id=ALICE, personality=ada, memory_ids=[one.pk]) == 1
    assert memory_forget(user_id=ALICE, personality=lilith.pk) == 5
    # Ids of another user are never deleted.
    bobs = list(Memory.objects.filter(user_id=BOB).values_list("pk", flat=True))
    assert memory_forget(user_id=ALICE, memory_ids=bobs) == 0

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM memory_memory WHERE user_id = %s AND personality_id = %s",
            [ALICE, lilith.pk],
        )
        assert cursor.fetchone()[0] == 0
    for text in texts:
        assert memory_search(personality=lilith, user_id=ALICE, query=text) == []
        for exact in (True, False):
            hits = search(personality=lilith, user_id=ALICE, query=text, mode="vector", exact=exact)
            assert hits == []
    assert memory_forget(user_id=ALICE) == 4
    assert Memory.objects.filter(user_id=ALICE).count() == 0
    assert Memory.objects.filter(user_id=BOB).count() == 5


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_store_exchange_through_a_real_worker_is_idempotent(
    fake_openai: FakeOpenAI,
    make_personality: Callable[..., Personality],
    test_database_url: str,
    process_logs: object,
) -> None:
    from tests.conftest import start_worker

    lilith = make_personality(name="Lilith")
    worker = start_worker(
        process_logs,  # type: ignore[arg-type]
        test_database_url,
        EMBEDDING_BACKEND="openai",
        EMBEDDING_BASE_URL=fake_openai.base_url,
        EMBEDDING_API_KEY="sk-test",
        EMBEDDING_MODEL="fake-embedding",
    )
    try:
        # Results on for these two calls, whichever worker of the session runs them.
        results = [
            memory_store_exchange.apply_async(args=_exchange(lilith), ignore_result=False) for _ in range(2)
        ]
        ids = [result.get(timeout=60) for result in results]
        assert ids[0] is not None and ids[0] == ids[1]
        assert Memory.objects.count() == 1
        assert Memory.objects.get().embedding_status == "ready"
    finally:
        worker.stop()
