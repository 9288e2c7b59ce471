"""Long-term memories: what a character remembers of a user.

A memory belongs to one (personality, user) pair: the personality it was said
to and the Discord user it is about. ``shared`` records the personality's
memory scope when the memory was written; only shared memories are ever seen by
*other* personalities (see ``memory.selectors`` for the visibility rule).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.utils import timezone
from pgvector.django import HnswIndex, VectorField

# Text-search configuration of the full-text vector; queries must use the same.
TEXT_SEARCH_CONFIG = "english"


class MemorySource(models.TextChoices):
    CONVERSATION = "conversation", "Conversation"
    IMPORT = "import", "Import"
    FACT = "fact", "Fact"


class EmbeddingStatus(models.TextChoices):
    READY = "ready", "Embedded"
    PENDING = "pending", "Waiting for its embedding"


class Memory(models.Model):
    personality = models.ForeignKey(
        "personalities_app.Personality", on_delete=models.CASCADE, related_name="memories"
    )
    user_id = models.CharField(max_length=32, help_text="Discord user id the memory is about.")
    channel_id = models.CharField(max_length=32, blank=True, default="")
    guild_id = models.CharField(max_length=32, blank=True, default="")
    shared = models.BooleanField(
        default=False,
        help_text="Written while the personality's memory scope was 'shared': visible to the "
        "user's other shared-scope personalities.",
    )

    text = models.TextField()
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of the normalised text.")
    # NULL while the embedding is pending (the embedder failed or has not run yet).
    embedding = VectorField(dimensions=settings.EMBEDDING_DIMENSIONS, null=True, blank=True)
    embedding_status = models.CharField(
        max_length=16, choices=EmbeddingStatus.choices, default=EmbeddingStatus.PENDING
    )
    embedding_attempts = models.PositiveIntegerField(default=0)
    embedding_error = models.CharField(max_length=300, blank=True, default="")
    # Maintained by PostgreSQL itself, so no write path can forget it.
    search_vector = models.GeneratedField(
        expression=SearchVector("text", config=TEXT_SEARCH_CONFIG),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    source = models.CharField(max_length=16, choices=MemorySource.choices, default=MemorySource.CONVERSATION)
    source_id = models.CharField(
        max_length=255, blank=True, default="", help_text="Where it came from, e.g. Discord message ids."
    )
    created_at = models.DateTimeField(
        default=timezone.now, help_text="When it was said (imports keep theirs)."
    )
    stored_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "memories"
        constraints = [
            models.UniqueConstraint(
                fields=["personality", "user_id", "content_hash"], name="memory_unique_text_per_scope"
            ),
        ]
        indexes = [
            models.Index(fields=["user_id", "personality"], name="memory_scope_idx"),
            GinIndex(fields=["search_vector"], name="memory_search_vector_gin"),
            HnswIndex(
                name="memory_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            models.Index(
                fields=["id"],
                name="memory_pending_idx",
                condition=models.Q(embedding_status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.text[:60]}"
