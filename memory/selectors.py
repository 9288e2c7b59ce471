"""Reads of long-term memory: hybrid search, recall for a prompt, listing.

Visibility (who sees which memory), for a search by personality P for user U:

* always U's memories stored under P itself;
* if P's memory scope is ``shared``: also U's memories stored under any other
  personality whose scope is *currently* ``shared`` and that were written
  while it was shared (``Memory.shared``).

So a private personality never sees another's memories, and its own are never
seen by another, whatever its past settings; switching a personality to
``shared`` does not publish what it remembered while private. Never anything
of another user.

Retrieval (see docs/ARCHITECTURE.md, "Memory", for the measurements behind it):
vector candidates by cosine distance (an exact scan when the scope is small,
the HNSW index with pgvector's iterative scan when it is large) and full-text
candidates by ``ts_rank`` are fused by reciprocal rank fusion; the similarity
floor then drops memories whose cosine similarity to the query is below the
threshold.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from django.db import connection, transaction
from django.db.models import QuerySet
from pgvector import Vector

from personalities_app.models import MemoryScope, Personality

from .embeddings import EmbeddingError, embed
from .models import TEXT_SEARCH_CONFIG, Memory
from .services import normalise_text, resolve_personality

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "vector", "text"]

# Reciprocal rank fusion constant (score = sum of 1 / (RRF_K + rank)).
RRF_K = 60
# Candidates taken from each of the two rankings before fusion.
MIN_CANDIDATES = 50
# How a scope's vectors are searched (measured in bench/memory_search.py,
# BENCHMARKS.md): exactly (its rows read through the B-tree, every vector
# compared) unless the scope holds more than EXACT_SCAN_MAX memories AND at
# least HNSW_MIN_FRACTION of the table. The HNSW graph is shared by all scopes:
# filtered to a scope that is a small fraction of the table, it must walk past
# (1 / fraction) rows of other scopes per match and gives up at
# hnsw.max_scan_tuples, returning too few.
EXACT_SCAN_MAX = 3_000
HNSW_MIN_FRACTION = 0.005
# hnsw.ef_search for large scopes (the iterative scan goes on past it as
# needed to find enough rows of the scope).
HNSW_EF_SEARCH = 400
# History messages shorter than this never hide a memory (see memory_recall).
MIN_EXCLUDED_CHARS = 16

_WORDS = re.compile(r"\w+")


@dataclass(frozen=True)
class MemoryHit:
    """A memory found by a search.

    ``score`` is the fused relevance (higher is better; comparable only within
    one search). ``similarity`` is the cosine similarity between the query and
    the memory (-1..1), None when either has no embedding.
    """

    memory: Memory
    score: float
    similarity: float | None


@dataclass(frozen=True)
class _Scope:
    """The SQL condition selecting the memories a search may see, with its parameters."""

    template: str
    params: list[object]

    @property
    def sql(self) -> str:
        """The condition as the scope's B-tree index can serve it."""
        return self.template.format(user="user_id", personality="personality_id")

    @property
    def sql_unindexed(self) -> str:
        """The same condition written so that the B-tree cannot serve it (see vector_candidates)."""
        return self.template.format(user="(user_id || '')", personality="(personality_id + 0)")


def _scope(person: Personality, user_id: str) -> _Scope:
    if person.memory_scope == MemoryScope.SHARED:
        shared_ids = list(
            Personality.objects.filter(memory_scope=MemoryScope.SHARED).values_list("pk", flat=True)
        )
        return _Scope(
            "{user} = %s AND ({personality} = %s OR (shared AND {personality} = ANY(%s)))",
            [user_id, person.pk, shared_ids],
        )
    return _Scope("{user} = %s AND {personality} = %s", [user_id, person.pk])


def text_query(query: str) -> str:
    """A ``websearch_to_tsquery`` string matching any word of the query (OR).

    A conversational question ("what was my dog called?") shares only some of
    its words with the memory that answers it; an AND of every word would
    rarely match. Stop words are removed by PostgreSQL.
    """
    words = [w for w in _WORDS.findall(query.lower()) if w != "or"][:64]
    return " or ".join(words)


def scope_is_small(scope: _Scope) -> bool:
    """Whether the scope should be searched exactly (see ``EXACT_SCAN_MAX``).

    The scope's rows are counted (an index-only scan) only as far as the
    decision needs; the table's size is PostgreSQL's estimate, free to read
    (-1 until the table is first analysed: then the scope's size alone decides).
    """
    table = Memory._meta.db_table
    with connection.cursor() as cursor:
        sql = (
            "WITH r AS (SELECT greatest(reltuples, 0) * %s AS share FROM pg_class WHERE oid = %s::regclass) "  # noqa: S608
            f"SELECT count(*), (SELECT share FROM r) FROM (SELECT 1 FROM {table} WHERE {scope.sql} "
            "LIMIT (SELECT greatest(%s, ceil(share))::bigint + 1 FROM r)) s"
        )
        cursor.execute(sql, [HNSW_MIN_FRACTION, table, *scope.params, EXACT_SCAN_MAX])
        size, share = cursor.fetchone()
    return size <= EXACT_SCAN_MAX or size < float(share or 0)


def vector_candidates(
    scope: _Scope, vector: Sequence[float], n: int, *, exact: bool | None = None
) -> list[tuple[int, float]]:
    """(id, cosine distance) of the ``n`` nearest memories in the scope, nearest first.

    ``exact`` None chooses by the scope's size (``scope_is_small``).
    """
    table = Memory._meta.db_table
    literal = Vector._to_db(list(vector))
    if exact is None:
        exact = scope_is_small(scope)
    if exact:
        # OFFSET 0 fences the subquery: the scope's rows are read through its
        # B-tree index and every vector compared (exact), instead of walking
        # the global HNSW graph past thousands of other scopes' rows.
        sql = (
            f"SELECT id, embedding <=> %s::vector AS distance FROM "  # noqa: S608
            f"(SELECT id, embedding FROM {table} WHERE {scope.sql} AND embedding IS NOT NULL OFFSET 0) s "
            "ORDER BY distance LIMIT %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [literal, *scope.params, n])
            return [(int(r[0]), float(r[1])) for r in cursor.fetchall()]
    # A large scope: the HNSW index, filtered by the scope. The condition is
    # written so that the planner cannot use the B-tree and sort the whole
    # scope, and sequential scans are off, so the index is what remains.
    sql = (
        f"SELECT id, distance FROM (SELECT id, embedding <=> %s::vector AS distance FROM {table} "  # noqa: S608
        f"WHERE {scope.sql_unindexed} ORDER BY embedding <=> %s::vector LIMIT %s) s ORDER BY distance"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        # The iterative scan keeps walking the graph until enough rows of the
        # scope have passed the filter; relaxed order is re-sorted above.
        cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"SET LOCAL hnsw.ef_search = {max(HNSW_EF_SEARCH, n):d}")
        cursor.execute(sql, [literal, *scope.params, literal, n])
        return [(int(r[0]), float(r[1])) for r in cursor.fetchall()]


def text_candidates(
    scope: _Scope, query: str, n: int, *, small: bool | None = None
) -> list[tuple[int, float]]:
    """(id, ts_rank) of the ``n`` best full-text matches in the scope, best first.

    In a small scope the scope's rows are read first and matched one by one;
    in a large one PostgreSQL may combine the GIN and B-tree indexes.
    """
    words = text_query(query)
    if not words:
        return []
    if small is None:
        small = scope_is_small(scope)
    table = Memory._meta.db_table
    fence = " OFFSET 0" if small else ""
    rows = f"(SELECT id, search_vector FROM {table} WHERE {scope.sql}{fence}) m"  # noqa: S608 - fixed SQL
    sql = (
        f"SELECT id, ts_rank(search_vector, q) AS rank FROM {rows}, "  # noqa: S608
        f"websearch_to_tsquery('{TEXT_SEARCH_CONFIG}', %s) q "
        "WHERE search_vector @@ q ORDER BY rank DESC, id DESC LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*scope.params, words, n])
        return [(int(r[0]), float(r[1])) for r in cursor.fetchall()]


def _small_scope_candidates(
    scope: _Scope, vector: Sequence[float], query: str, n: int
) -> tuple[list[int], list[int], dict[int, float]]:
    """Both candidate lists of a small scope from one read of its rows.

    Returns the ids nearest first, the ids best full-text match first, and
    the cosine similarity of every candidate that has an embedding. Same
    results as ``vector_candidates(exact=True)`` and ``text_candidates(small=True)``,
    in one statement.
    """
    table = Memory._meta.db_table
    sql = (
        f"WITH s AS MATERIALIZED (SELECT id, embedding <=> %s::vector AS distance, search_vector "  # noqa: S608
        f"FROM {table} WHERE {scope.sql}), "
        "v AS (SELECT id, distance FROM s WHERE distance IS NOT NULL ORDER BY distance LIMIT %s), "
        "t AS (SELECT id, distance, ts_rank(search_vector, q) AS rank FROM s, "
        f"websearch_to_tsquery('{TEXT_SEARCH_CONFIG}', %s) q WHERE search_vector @@ q "
        "ORDER BY rank DESC, id DESC LIMIT %s) "
        "SELECT 1, id, distance, 0 FROM v UNION ALL SELECT 2, id, distance, rank FROM t"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [Vector._to_db(list(vector)), *scope.params, n, text_query(query), n])
        rows = cursor.fetchall()
    by_vector = sorted((float(r[2]), int(r[1])) for r in rows if r[0] == 1)
    by_text = sorted((-float(r[3]), -int(r[1])) for r in rows if r[0] == 2)
    similarity = {int(r[1]): 1.0 - float(r[2]) for r in rows if r[2] is not None}
    return [pk for _, pk in by_vector], [-pk for _, pk in by_text], similarity


def _similarities(ids: list[int], vector: Sequence[float]) -> dict[int, float]:
    table = Memory._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, 1 - (embedding <=> %s::vector) FROM {table} "  # noqa: S608
            "WHERE id = ANY(%s) AND embedding IS NOT NULL",
            [Vector._to_db(list(vector)), ids],
        )
        return {int(r[0]): float(r[1]) for r in cursor.fetchall()}


def fuse(
    rankings: Sequence[Sequence[int]], k: int = RRF_K, weights: Sequence[float] | None = None
) -> dict[int, float]:
    """Reciprocal rank fusion of ranked id lists: id -> sum of weight / (k + rank)."""
    scores: dict[int, float] = {}
    for i, ranking in enumerate(rankings):
        weight = 1.0 if weights is None else weights[i]
        for rank, pk in enumerate(ranking, start=1):
            scores[pk] = scores.get(pk, 0.0) + weight / (k + rank)
    return scores


def search(
    *,
    personality: Personality | int,
    user_id: str,
    query: str,
    k: int = 10,
    mode: Mode = "hybrid",
    threshold: float | None = None,
    query_vector: Sequence[float] | None = None,
    exact: bool | None = None,
) -> list[MemoryHit]:
    """The search behind ``memory_search`` and ``memory_recall``, with its knobs exposed.

    ``mode`` picks the rankings used; ``threshold`` is the similarity floor
    (None: none; memories without a similarity — pending, or the query could
    not be embedded — pass it only by matching the query's words);
    ``query_vector`` skips embedding the query (benchmarks);
    ``exact`` forces (True) or forbids (False) the exact scan. When the query
    cannot be embedded, the search falls back to full text alone.
    """
    person = resolve_personality(personality)
    scope = _scope(person, str(user_id))
    n = max(MIN_CANDIDATES, 3 * k)
    vector = list(query_vector) if query_vector is not None else None
    if vector is None and mode != "text":
        try:
            vector = embed([query])[0]
        except EmbeddingError as exc:
            log.warning("query embedding failed; searching memories by full text only: %s", exc)
            mode = "text"
    small = scope_is_small(scope) if exact is None else exact
    use_vector = mode in ("hybrid", "vector") and vector is not None
    use_text = mode in ("hybrid", "text") and bool(text_query(query))
    rankings: list[list[int]] = []
    similarity: dict[int, float] = {}
    by_text: list[int] = []
    if small and use_vector and use_text:
        by_vector, by_text, similarity = _small_scope_candidates(scope, vector, query, n)  # type: ignore[arg-type]
        rankings = [by_vector, by_text]
    else:
        if use_vector:
            nearest = vector_candidates(scope, vector, n, exact=small)  # type: ignore[arg-type]
            similarity = {pk: 1.0 - distance for pk, distance in nearest}
            rankings.append([pk for pk, _ in nearest])
        if use_text:
            by_text = [pk for pk, _ in text_candidates(scope, query, n, small=small)]
            rankings.append(by_text)
    scores = fuse(rankings)
    if not scores:
        return []
    if vector is not None:
        missing = [pk for pk in scores if pk not in similarity]
        if missing:
            similarity.update(_similarities(missing, vector))
    ranked = sorted(scores, key=lambda pk: (-scores[pk], -similarity.get(pk, -2.0), -pk))
    if threshold is not None:
        # What has no similarity (a pending memory, or a query the embedder
        # could not embed) cannot be held to the floor: its words must match.
        worded = set(by_text)
        ranked = [pk for pk in ranked if (similarity[pk] >= threshold if pk in similarity else pk in worded)]
    ranked = ranked[:k]
    # Only the chosen few are loaded; vectors and text vectors stay in the database.
    memories = (
        Memory.objects.select_related("personality").defer("embedding", "search_vector").in_bulk(ranked)
    )
    return [
        MemoryHit(memory=memories[pk], score=scores[pk], similarity=similarity.get(pk))
        for pk in ranked
        if pk in memories
    ]


def memory_search(
    *, personality: Personality | int, user_id: str, query: str, k: int = 10
) -> list[MemoryHit]:
    """The ``k`` memories of the user that the personality may see, most relevant first.

    Hybrid ranking, no similarity floor (``memory_recall`` applies the
    personality's settings). ``personality`` is an instance or a primary key.
    """
    return search(personality=personality, user_id=user_id, query=query, k=k)


def _utterance_key(text: str) -> str:
    return normalise_text(text).casefold()


def is_in_history(memory_text: str, history_keys: Sequence[str]) -> bool:
    """Whether a memory's text is already present in the history window.

    Matching rule: both sides are compared case-insensitively with runs of
    spaces collapsed and lines trimmed. A memory is present when a history
    message is the whole memory, or a whole utterance of it: found right
    after a ``Name: `` prefix or at the start, and running to the end of a
    line or of the memory (so ``"Alice: I love jazz\\nLilith: …"`` is present
    when the history holds ``"I love jazz"``). History messages shorter than
    ``MIN_EXCLUDED_CHARS`` characters only match a whole memory: a passing
    "ok" or "thanks!" must not hide every exchange that contains one.
    """
    text = _utterance_key(memory_text)
    for key in history_keys:
        if not key:
            continue
        if key == text:
            return True
        if len(key) < MIN_EXCLUDED_CHARS:
            continue
        start = text.find(key)
        while start != -1:
            end = start + len(key)
            before_ok = start == 0 or text[max(0, start - 2) : start] == ": "
            after_ok = end == len(text) or text[end] == "\n"
            if before_ok and after_ok:
                return True
            start = text.find(key, start + 1)
    return False


def memory_recall(
    *,
    personality: Personality | int,
    user_id: str,
    query: str,
    exclude_texts: Sequence[str] = (),
) -> list[MemoryHit]:
    """The memories to put in a prompt, under the personality's memory settings.

    Empty when the personality's memory is disabled. Otherwise the hybrid
    search limited to ``memory_top_k`` memories whose similarity is at least
    ``memory_threshold``, leaving out memories already present in the recent
    history window: ``exclude_texts`` are the history messages' contents,
    matched by the rule of ``is_in_history``.
    """
    person = resolve_personality(personality)
    if not person.memory_enabled:
        return []
    keys = [_utterance_key(t) for t in exclude_texts if t and t.strip()]
    k = person.memory_top_k
    # Ask for more than k so that memories left out as already in the
    # history do not leave the prompt short.
    hits = search(
        personality=person,
        user_id=user_id,
        query=query,
        k=k + min(len(keys), 50),
        threshold=person.memory_threshold,
    )
    return [hit for hit in hits if not is_in_history(hit.memory.text, keys)][:k]


def memory_list(*, user_id: str, personality: Personality | None = None) -> QuerySet[Memory]:
    """A user's memories, newest first, optionally of one personality only."""
    queryset = Memory.objects.filter(user_id=str(user_id)).select_related("personality")
    if personality is not None:
        queryset = queryset.filter(personality=personality)
    return queryset.order_by("-created_at", "-id")
