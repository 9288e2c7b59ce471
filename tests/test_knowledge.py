"""Knowledge entries (a character's lorebook): keyword and semantic recall, embedding, the admin."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from personalities_app.models import KnowledgeEntry, Personality
from personalities_app.selectors import knowledge_recall
from personalities_app.services import knowledge_embed_entry, knowledge_embed_pending, knowledge_entry_save
from tests.fakes.openai_server import FakeOpenAI, Reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_embedder(fake_embedder: FakeOpenAI, settings: Any) -> FakeOpenAI:
    """The shared fake embedder, with a similarity floor these tests' vectors call for."""
    settings.KNOWLEDGE_THRESHOLD = 0.9
    return fake_embedder


@pytest.fixture
def nova() -> Personality:
    return Personality.objects.create(slug="nova", name="Nova")


def entry(
    personality: Personality, title: str, content: str, keywords: list[str] | None = None, **extra: Any
):  # type: ignore[no-untyped-def]
    return knowledge_entry_save(
        entry=KnowledgeEntry(
            personality=personality, title=title, content=content, keywords=keywords or [], **extra
        )
    )


def titles(hits) -> list[str]:  # type: ignore[no-untyped-def]
    return [hit.entry.title for hit in hits]


@pytest.mark.usefixtures("fake_embedder")
def test_keywords_match_whole_words_in_any_case_in_the_message_and_recent_history(nova: Personality) -> None:
    entry(nova, "Cats", "Nova's ship cat is called Pixel.", ["cat"])
    entry(nova, "Star map", "The star map is kept in the galley.", ["star map", "Orrery"])
    assert titles(knowledge_recall(personality=nova, message="Do you have a CAT aboard?")) == ["Cats"]
    assert knowledge_recall(personality=nova, message="Let us concatenate the logs.") == []
    assert titles(knowledge_recall(personality=nova, message="where is the star\n map?")) == ["Star map"]
    hits = knowledge_recall(
        personality=nova, message="Show me.", recent=["old", "the orrery broke", "hm", "ok"]
    )
    assert titles(hits) == ["Star map"] and hits[0].keyword == "Orrery"


@pytest.mark.usefixtures("fake_embedder")
def test_only_recent_history_is_scanned_for_keywords(nova: Personality, settings: Any) -> None:
    settings.KNOWLEDGE_SCAN_DEPTH = 2
    entry(nova, "Cats", "Pixel the ship cat.", ["cat"])
    assert knowledge_recall(personality=nova, message="hi", recent=["my cat", "a", "b"]) == []
    assert titles(knowledge_recall(personality=nova, message="hi", recent=["a", "my cat", "b"])) == ["Cats"]


@pytest.mark.usefixtures("fake_embedder")
def test_entries_close_in_meaning_come_after_keyword_hits_and_disabled_ones_never(nova: Personality) -> None:
    close = entry(nova, "Engines", "The engines hum in B flat.")
    entry(nova, "Cats", "Pixel the ship cat.", ["cat"])
    entry(nova, "Off", "Never shown.", ["cat"], enabled=False)
    other = Personality.objects.create(slug="echo", name="Echo")
    entry(other, "Echo's cat", "Not Nova's.", ["cat"])
    # The fake embedder gives identical texts identical vectors and unrelated ones ~0 similarity.
    hits = knowledge_recall(personality=nova, message=close.embedding_text() + " cat")
    assert titles(hits) == ["Cats"]  # similarity below the threshold: only the keyword hit
    hits = knowledge_recall(personality=nova, message="cat", threshold=-1.0)
    assert titles(hits) == ["Cats", "Engines"]
    hits = knowledge_recall(personality=nova, message=close.embedding_text())
    assert titles(hits) == ["Engines"] and hits[0].keyword is None and hits[0].similarity > 0.99
    assert titles(knowledge_recall(personality=nova, message="cat", threshold=-1.0, limit=1)) == ["Cats"]


def test_embedder_down_keeps_entries_pending_keywords_still_work_then_the_periodic_task_finishes(
    nova: Personality, fake_embedder: FakeOpenAI
) -> None:
    entry(nova, "Engines", "The engines hum in B flat.", ["engine"])
    fake_embedder.script("embeddings", *[Reply(status=500)] * 3)
    saved = entry(nova, "Cats", "Pixel the ship cat.", ["cat"])
    assert saved.embedding_status == "pending" and saved.embedding is None and saved.embedding_error
    # The message cannot be embedded either: keywords alone decide.
    fake_embedder.script("embeddings", *[Reply(status=500)] * 3)
    assert titles(knowledge_recall(personality=nova, message="a cat near the engine")) == ["Engines", "Cats"]
    assert knowledge_embed_pending() == 1
    saved.refresh_from_db()
    assert saved.embedding_status == "ready" and saved.embedding is not None and saved.embedding_error == ""


def test_a_changed_text_is_embedded_again_and_a_keyword_change_is_not(
    nova: Personality, fake_embedder: FakeOpenAI
) -> None:
    saved = entry(nova, "Cats", "Pixel the ship cat.", ["cat"])
    first_hash = saved.embedded_hash
    calls = len(fake_embedder.calls("embeddings"))
    saved.keywords = ["cat", "Pixel"]
    knowledge_entry_save(entry=saved)
    assert len(fake_embedder.calls("embeddings")) == calls
    saved.content = "Pixel the ship cat, who hates vacuum."
    knowledge_entry_save(entry=saved)
    assert len(fake_embedder.calls("embeddings")) == calls + 1
    saved.refresh_from_db()
    assert saved.embedded_hash != first_hash and saved.embedding_status == "ready"


def test_invalid_keywords_are_refused(nova: Personality) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="listed twice"):
        entry(nova, "Cats", "Pixel.", ["cat", "CAT"])


@pytest.mark.usefixtures("fake_embedder")
def test_admin_edit_saves_the_entry_pending_and_queues_its_embedding(
    nova: Personality, django_capture_on_commit_callbacks: Any
) -> None:
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(admin)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            "/admin/personalities_app/knowledgeentry/add/",
            {
                "personality": nova.pk,
                "title": "Engines",
                "keywords": "engine\nwarp core",
                "content": "The engines hum in B flat.",
                "enabled": "on",
                "source": "admin",
                "source_id": "",
                "metadata": "{}",
            },
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    saved = KnowledgeEntry.objects.get(title="Engines")
    assert saved.keywords == ["engine", "warp core"]
    assert saved.embedding_status == "pending" and len(callbacks) == 1
    # What the queued task does:
    assert knowledge_embed_entry(entry_id=saved.pk)
    saved.refresh_from_db()
    assert saved.embedding_status == "ready"
    listing = client.get("/admin/personalities_app/knowledgeentry/")
    assert "engine, warp core" in listing.content.decode()


def test_the_worker_recalls_nothing_rather_than_failing_the_reply(caplog: pytest.LogCaptureFixture) -> None:
    from gateway.generation import recall_knowledge, recall_profile
    from gateway.models import GenerationJob

    # A personality that cannot be queried (unsaved) makes both recalls fail inside.
    job = GenerationJob(personality=Personality(slug="ghost", name="Ghost"), user_id="1", message="a cat")
    with caplog.at_level("WARNING", logger="gateway.generation"):
        assert recall_knowledge(job, []) == []
        assert recall_profile(job) is None
    assert "knowledge not recalled (ValueError)" in caplog.text
    assert "profile not read (ValueError)" in caplog.text
