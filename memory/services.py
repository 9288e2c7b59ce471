"""Writes of long-term memory: remember, embed what is pending, forget.

Embedding happens outside any transaction (it may be a network call). When the
embedder fails, the memory is stored anyway with ``embedding_status="pending"``
and ``memory_embed_pending`` (run periodically by Celery beat) finishes it:
nothing a user said is dropped because an embedder was down. Until then a
pending memory can still be found by full-text search.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypedDict

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from pgvector import Vector

from personalities_app.models import MemoryScope, Personality

from .embeddings import EmbeddingError, embed
from .models import EmbeddingStatus, Memory, MemorySource

log = logging.getLogger(__name__)

_SPACES = re.compile(r"[ \t\r\f\v]+")
# Rows per INSERT statement in memory_add_many.
INSERT_CHUNK = 500


class MemoryItem(TypedDict, total=False):
    """One item of ``memory_add_many``: the keyword arguments of ``memory_add``."""

    text: str
    source: str
    source_id: str | None
    created_at: datetime | None
    channel_id: str | None
    guild_id: str | None


def normalise_text(text: str) -> str:
    """The text as stored: runs of spaces collapsed, lines trimmed, no empty edges."""
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip()


def content_hash(text: str) -> str:
    return hashlib.sha256(normalise_text(text).encode()).hexdigest()


def resolve_personality(personality: Personality | int) -> Personality:
    if isinstance(personality, Personality):
        return personality
    return Personality.objects.get(pk=personality)


def _prepare(personality: Personality, user_id: str, item: MemoryItem) -> dict[str, Any]:
    text = normalise_text(item.get("text") or "")
    if not text:
        raise ValueError("A memory needs some text.")
    source = item.get("source") or MemorySource.CONVERSATION
    if source not in MemorySource.values:
        raise ValueError(f"Unknown memory source {source!r}; use one of {', '.join(MemorySource.values)}.")
    if not str(user_id).isdigit():
        raise ValueError("user_id must be a Discord id (digits).")
    return {
        "personality_id": personality.pk,
        "user_id": str(user_id),
        "channel_id": item.get("channel_id") or "",
        "guild_id": item.get("guild_id") or "",
        "shared": personality.memory_scope == MemoryScope.SHARED,
        "text": text,
        "content_hash": hashlib.sha256(text.encode()).hexdigest(),
        "source": source,
        "source_id": (item.get("source_id") or "")[:255],
        "created_at": item.get("created_at") or timezone.now(),
    }


_COLUMNS = (
    "personality_id",
    "user_id",
    "channel_id",
    "guild_id",
    "shared",
    "text",
    "content_hash",
    "source",
    "source_id",
    "created_at",
    "embedding",
    "embedding_status",
    "embedding_attempts",
    "embedding_error",
)


def _insert(rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert rows, skipping any whose text is already in its scope; returns the new ids."""
    table = Memory._meta.db_table
    now = timezone.now()
    ids: list[int] = []
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[start : start + INSERT_CHUNK]
        placeholders = ", ".join("(" + ", ".join(["%s"] * len(_COLUMNS)) + ", %s)" for _ in chunk)
        params: list[Any] = []
        for row in chunk:
            params.extend(row[column] for column in _COLUMNS)
            params.append(now)
        sql = (
            f"INSERT INTO {table} ({', '.join(_COLUMNS)}, stored_at) VALUES {placeholders} "  # noqa: S608 - fixed names
            "ON CONFLICT (personality_id, user_id, content_hash) DO NOTHING RETURNING id"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            ids.extend(r[0] for r in cursor.fetchall())
    return ids


def _with_embeddings(rows: list[dict[str, Any]]) -> None:
    """Fill in each row's embedding, or mark the rows pending when the embedder fails."""
    try:
        vectors = embed([row["text"] for row in rows])
    except EmbeddingError as exc:
        log.warning("embedding failed for %d memories; keeping them pending: %s", len(rows), exc)
        for row in rows:
            row.update(
                embedding=None,
                embedding_status=EmbeddingStatus.PENDING,
                embedding_attempts=1,
                embedding_error=str(exc)[:300],
            )
        return
    for row, vector in zip(rows, vectors, strict=True):
        row.update(
            embedding=Vector._to_db(vector),
            embedding_status=EmbeddingStatus.READY,
            embedding_attempts=1,
            embedding_error="",
        )


def memory_add(
    *,
    personality: Personality | int,
    user_id: str,
    text: str,
    source: str = MemorySource.CONVERSATION,
    source_id: str | None = None,
    created_at: datetime | None = None,
    channel_id: str | None = None,
    guild_id: str | None = None,
) -> Memory:
    """Remember ``text`` in the (personality, user) scope and return the memory.

    Idempotent: a text already remembered in that scope (same normalised text)
    is returned as it is, not stored again. If the embedder fails the memory is
    stored pending (see the module docstring). Raises ``ValueError`` for an
    empty text, an unknown source or a user id that is not a Discord id.
    """
    person = resolve_personality(personality)
    row = _prepare(
        person,
        user_id,
        {
            "text": text,
            "source": source,
            "source_id": source_id,
            "created_at": created_at,
            "channel_id": channel_id,
            "guild_id": guild_id,
        },
    )
    scope = {"personality_id": person.pk, "user_id": row["user_id"], "content_hash": row["content_hash"]}
    existing = Memory.objects.filter(**scope).first()
    if existing is not None:
        return existing
    _with_embeddings([row])
    with transaction.atomic():
        _insert([row])
    return Memory.objects.get(**scope)


def memory_add_many(*, personality: Personality | int, user_id: str, items: Iterable[MemoryItem]) -> int:
    """Remember many texts in one scope, embedding in batches; returns how many were new.

    Items are dicts with the keyword arguments of ``memory_add`` (``text``
    required). Texts already in the scope, or repeated within ``items``, are
    skipped. All items are validated before anything is stored.
    """
    person = resolve_personality(personality)
    rows: dict[str, dict[str, Any]] = {}
    for item in items:
        row = _prepare(person, user_id, item)
        rows.setdefault(row["content_hash"], row)
    if not rows:
        return 0
    known = set(
        Memory.objects.filter(
            personality_id=person.pk, user_id=str(user_id), content_hash__in=list(rows)
        ).values_list("content_hash", flat=True)
    )
    fresh = [row for digest, row in rows.items() if digest not in known]
    inserted = 0
    batch = 256
    for start in range(0, len(fresh), batch):
        chunk = fresh[start : start + batch]
        _with_embeddings(chunk)
        with transaction.atomic():
            inserted += len(_insert(chunk))
    return inserted


def memory_embed_pending(*, limit: int = 1000, batch_size: int = 64) -> int:
    """Embed up to ``limit`` pending memories; returns how many were completed.

    Stops at the first batch the embedder fails (its rows stay pending with
    their attempt counted): the next periodic run tries again. Safe to run
    concurrently: an update only lands on a row that is still pending with
    the same text.
    """
    done = 0
    last_id = 0
    while done < limit:
        pending = list(
            Memory.objects.filter(embedding_status=EmbeddingStatus.PENDING, id__gt=last_id)
            .order_by("id")
            .values_list("id", "text")[: min(batch_size, limit - done)]
        )
        if not pending:
            break
        last_id = pending[-1][0]
        ids = [pk for pk, _ in pending]
        try:
            vectors = embed([text for _, text in pending])
        except EmbeddingError as exc:
            log.warning("embedding %d pending memories failed again: %s", len(pending), exc)
            with transaction.atomic():
                Memory.objects.filter(id__in=ids, embedding_status=EmbeddingStatus.PENDING).update(
                    embedding_attempts=F("embedding_attempts") + 1, embedding_error=str(exc)[:300]
                )
            break
        with transaction.atomic():
            for (pk, text), vector in zip(pending, vectors, strict=True):
                done += Memory.objects.filter(
                    id=pk, text=text, embedding_status=EmbeddingStatus.PENDING
                ).update(
                    embedding=vector,
                    embedding_status=EmbeddingStatus.READY,
                    embedding_attempts=F("embedding_attempts") + 1,
                    embedding_error="",
                )
    return done


def memory_forget(
    *,
    user_id: str,
    personality: Personality | int | None = None,
    memory_ids: Sequence[int] | None = None,
) -> int:
    """Delete a user's memories (all, one personality's, or the given ids); returns how many.

    The vectors live in the rows, so they go with them (PostgreSQL's vacuum
    then drops the index entries; no search can return a deleted row).
    Ids that are not this user's are ignored, never deleted.
    """
    queryset = Memory.objects.filter(user_id=str(user_id))
    if personality is not None:
        pk = personality.pk if isinstance(personality, Personality) else personality
        queryset = queryset.filter(personality_id=pk)
    if memory_ids is not None:
        queryset = queryset.filter(id__in=list(memory_ids))
    with transaction.atomic():
        deleted, _ = queryset.delete()
    return deleted


def embedding_column_dimensions() -> int | None:
    """The dimensions of the ``embedding`` column in the database (None: unconstrained)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'embedding'",
            [Memory._meta.db_table],
        )
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] > 0 else None


def memory_reembed(
    *, batch_size: int = 256, progress: Callable[[int, int], None] | None = None
) -> tuple[int, int]:
    """Embed every memory again with the current embedder; returns (done, total).

    For a change of embedder. If ``EMBEDDING_DIMENSIONS`` no longer matches
    the column, the column is first changed to the new size (its vectors are
    dropped, every memory becomes pending, the HNSW index is rebuilt). Rows
    the embedder fails on are left pending for the periodic task; the run
    stops at the first failing batch and raises ``EmbeddingError``.
    """
    from django.conf import settings

    table = Memory._meta.db_table
    dimensions = settings.EMBEDDING_DIMENSIONS
    if embedding_column_dimensions() != dimensions:
        with transaction.atomic(), connection.cursor() as cursor:
            # Deferred foreign-key checks of rows written earlier in the same
            # transaction would block the ALTER; run them now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(
                f"ALTER TABLE {table} ALTER COLUMN embedding TYPE vector({int(dimensions)}) USING NULL"
            )
            cursor.execute(
                f"UPDATE {table} SET embedding_status = %s WHERE embedding_status <> %s",  # noqa: S608
                [EmbeddingStatus.PENDING, EmbeddingStatus.PENDING],
            )
    total = Memory.objects.count()
    done = 0
    last_id = 0
    while True:
        rows = list(
            Memory.objects.filter(id__gt=last_id).order_by("id").values_list("id", "text")[:batch_size]
        )
        if not rows:
            break
        last_id = rows[-1][0]
        try:
            vectors = embed([text for _, text in rows])
        except EmbeddingError:
            with transaction.atomic():
                Memory.objects.filter(id__gte=rows[0][0]).update(
                    embedding=None, embedding_status=EmbeddingStatus.PENDING
                )
            raise
        with transaction.atomic():
            for (pk, text), vector in zip(rows, vectors, strict=True):
                done += Memory.objects.filter(id=pk, text=text).update(
                    embedding=vector, embedding_status=EmbeddingStatus.READY, embedding_error=""
                )
        if progress is not None:
            progress(done, total)
    return done, total
