"""Memory search at scale: latency p50/p99 and recall@10 against exact search.

Loads N synthetic memories (clustered 384-dimensional vectors, short texts)
spread over 1,000 (personality, user) scopes with a Zipf-like size
distribution (a few large scopes, many small ones), in random order (as
memories arrive), by COPY; builds the indexes; then runs queries through
``memory.selectors.search`` — the production path — and compares its vector
stage with an exact scan of the same scope.

Compared, per scope-size bucket: the production choice (exact scan up to
``EXACT_SCAN_MAX`` memories, HNSW iterative scan above), exact scan for every
scope, and the HNSW iterative scan for every scope.

Run (from the repository root; starts its own PostgreSQL unless DATABASE_URL is set):

    .venv/bin/python bench/memory_search.py --sizes 100000 1000000

Options: ``--queries`` per size (default 500), ``--scopes`` (1000),
``--max-query-seconds`` (bound on each measuring phase, default 600),
``--data-dir`` to keep the loaded database for another run. Prints progress
lines and a table of results.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _memory_env import database, median, percentile, say, setup_django

DIM = 384
TOPICS = 4096
TOPICS_PER_SCOPE = 20
NOISE = 0.7
SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ren",
    "sa",
    "tor",
    "vel",
    "an",
    "dru",
    "pe",
    "qui",
    "zo",
    "bel",
    "mar",
    "ost",
    "ul",
]


@dataclass
class Scope:
    personality_id: int
    user_id: str
    size: int
    topics: list[int]


@dataclass
class Stats:
    latency_ms: list[float] = field(default_factory=list)
    recall: list[float] = field(default_factory=list)


def _vocabulary(rng: random.Random, n: int = 3000) -> list[str]:
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))))
    return sorted(words)


def _scope_sizes(total: int, scopes: int) -> list[int]:
    """Zipf-like sizes (exponent 0.9) summing to ``total``, each at least 1."""
    weights = [1.0 / (rank**0.9) for rank in range(1, scopes + 1)]
    norm = sum(weights)
    sizes = [max(1, int(total * w / norm)) for w in weights]
    sizes[0] += total - sum(sizes)
    return sizes


BUCKETS = [(300, "<=300"), (1_000, "301-1k"), (3_000, "1k-3k"), (10_000, "3k-10k"), (30_000, "10k-30k")]


def _bucket(size: int) -> str:
    for limit, name in BUCKETS:
        if size <= limit:
            return name
    return ">30k"


def create_scopes(n_scopes: int, rng: random.Random) -> list[Scope]:
    from personalities_app.models import Personality

    personalities = [
        Personality.objects.get_or_create(slug=f"bench-{i}", defaults={"name": f"Bench{i}"})[0]
        for i in range(50)
    ]
    scopes = []
    for s in range(n_scopes):
        person = personalities[s % len(personalities)]
        scopes.append(
            Scope(
                personality_id=person.pk,
                user_id=str(10_000_000 + s // len(personalities)),
                size=0,
                topics=rng.sample(range(TOPICS), TOPICS_PER_SCOPE),
            )
        )
    return scopes


def load(url: str, scopes: list[Scope], target: int, seed: int) -> None:
    """Grow the table to ``target`` rows (sizes by Zipf), secondary indexes dropped while loading."""
    import numpy as np
    import psycopg
    from pgvector.psycopg import register_vector

    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(1).standard_normal((TOPICS, DIM)).astype(np.float32)
    vocab = _vocabulary(random.Random(2))
    sizes = _scope_sizes(target, len(scopes))
    with psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        have = conn.execute("SELECT count(*) FROM memory_memory").fetchone()[0]
        if have >= target:
            counts = dict(
                conn.execute(
                    "SELECT personality_id::text || ':' || user_id, count(*) FROM memory_memory GROUP BY 1"
                ).fetchall()
            )
            for scope in scopes:
                scope.size = counts.get(f"{scope.personality_id}:{scope.user_id}", 0)
            say(f"table already holds {have} memories; not loading")
            return
        for index in ("memory_embedding_hnsw", "memory_search_vector_gin", "memory_scope_idx"):
            conn.execute(f"DROP INDEX IF EXISTS {index}")
        counts = dict(
            conn.execute(
                "SELECT personality_id::text || ':' || user_id, count(*) FROM memory_memory GROUP BY 1"
            ).fetchall()
        )
        plan: list[int] = []
        for i, scope in enumerate(scopes):
            already = counts.get(f"{scope.personality_id}:{scope.user_id}", 0)
            plan.extend([i] * max(0, sizes[i] - already))
            scope.size = max(already, sizes[i])
        order = rng.permutation(len(plan))
        say(f"loading {len(plan)} memories by COPY (table has {have})")
        started = time.monotonic()
        written = 0
        chunk = 50_000
        for begin in range(0, len(order), chunk):
            idx = order[begin : begin + chunk]
            scope_idx = np.asarray([plan[j] for j in idx])
            topic_pick = rng.integers(0, TOPICS_PER_SCOPE, size=len(idx))
            topic_ids = np.asarray([scopes[s].topics[t] for s, t in zip(scope_idx, topic_pick, strict=True)])
            vectors = centers[topic_ids] + NOISE * rng.standard_normal((len(idx), DIM)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            with (
                conn.cursor() as cursor,
                cursor.copy(
                    "COPY memory_memory (personality_id, user_id, channel_id, guild_id, shared, text, "
                    "content_hash, embedding, embedding_status, embedding_attempts, embedding_error, "
                    "source, source_id, created_at, stored_at) FROM STDIN"
                ) as copy,
            ):
                for row, s in enumerate(scope_idx):
                    scope = scopes[s]
                    serial = have + written + row
                    words = " ".join(vocab[(serial * 7919 + k * 104729) % len(vocab)] for k in range(10))
                    text = f"memory {serial}: {words}"
                    copy.write_row(
                        (
                            scope.personality_id,
                            scope.user_id,
                            "",
                            "",
                            False,
                            text,
                            hashlib.sha256(text.encode()).hexdigest(),
                            vectors[row],
                            "ready",
                            1,
                            "",
                            "conversation",
                            "",
                            "2025-01-01T00:00:00Z",
                            "2025-01-01T00:00:00Z",
                        )
                    )
            written += len(idx)
            rate = written / (time.monotonic() - started)
            say(f"  loaded {written}/{len(plan)} ({rate:,.0f} rows/s)")
        conn.execute("SET maintenance_work_mem = '6GB'")
        conn.execute("SET max_parallel_maintenance_workers = 1")
        for name, sql in [
            ("scope B-tree", "CREATE INDEX memory_scope_idx ON memory_memory (user_id, personality_id)"),
            (
                "full-text GIN",
                "CREATE INDEX memory_search_vector_gin ON memory_memory USING gin (search_vector)",
            ),
            (
                "HNSW (m=16, ef_construction=64)",
                "CREATE INDEX memory_embedding_hnsw ON memory_memory "
                "USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)",
            ),
        ]:
            t0 = time.monotonic()
            say(f"building the {name} index")
            conn.execute(sql)
            say(f"  built the {name} index in {time.monotonic() - t0:.0f} s")
        conn.execute("VACUUM ANALYZE memory_memory")
        size = conn.execute(
            "SELECT pg_size_pretty(pg_table_size('memory_memory')), "
            "pg_size_pretty(pg_indexes_size('memory_memory'))"
        ).fetchone()
        say(f"table {size[0]}, indexes {size[1]}")


def measure(
    scopes: list[Scope], n_queries: int, max_seconds: float, seed: int
) -> dict[str, dict[str, Stats]]:
    import numpy as np

    from memory import selectors
    from personalities_app.models import Personality

    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(1).standard_normal((TOPICS, DIM)).astype(np.float32)
    vocab = _vocabulary(random.Random(2))
    people = {p.pk: p for p in Personality.objects.filter(slug__startswith="bench-")}
    populated = [s for s in scopes if s.size > 0]
    # Uniform over scopes, plus the largest scopes, so every size bucket is measured.
    chosen = [populated[i] for i in rng.integers(0, len(populated), size=n_queries)]
    chosen += sorted(populated, key=lambda s: -s.size)[:20] * max(1, n_queries // 100)
    # Shuffled, so that a phase cut short by the time budget still covers every bucket.
    chosen = [chosen[i] for i in rng.permutation(len(chosen))]
    results: dict[str, dict[str, Stats]] = {}

    def record(strategy: str, scope: Scope, ms: float, recall: float | None) -> None:
        for bucket in (_bucket(scope.size), "all"):
            stats = results.setdefault(strategy, {}).setdefault(bucket, Stats())
            stats.latency_ms.append(ms)
            if recall is not None:
                stats.recall.append(recall)

    # Warm the caches as a running system would be.
    for scope in chosen[:20]:
        selectors.search(
            personality=people[scope.personality_id],
            user_id=scope.user_id,
            query="warm",
            k=10,
            query_vector=[0.05] * DIM,
        )
    started = time.monotonic()
    for n, scope in enumerate(chosen, start=1):
        if time.monotonic() - started > max_seconds:
            say(f"  time budget reached after {n - 1} queries")
            break
        topic = scope.topics[int(rng.integers(0, TOPICS_PER_SCOPE))]
        vector = centers[topic] + NOISE * rng.standard_normal(DIM).astype(np.float32)
        vector = (vector / np.linalg.norm(vector)).tolist()
        words = " ".join(vocab[int(i)] for i in rng.integers(0, len(vocab), size=4))
        person = people[scope.personality_id]
        sql_scope = selectors._scope(person, scope.user_id)
        truth = [pk for pk, _ in selectors.vector_candidates(sql_scope, vector, 10, exact=True)]
        n_candidates = selectors.MIN_CANDIDATES

        def recall_of(ids: list[int], truth: list[int] = truth) -> float:
            return len(set(ids[:10]) & set(truth)) / max(1, len(truth))

        # The whole production search (hybrid: vector + full text + fetch), as memory_search runs it.
        t0 = time.perf_counter()
        selectors.search(personality=person, user_id=scope.user_id, query=words, k=10, query_vector=vector)
        record("search: production hybrid", scope, (time.perf_counter() - t0) * 1000, None)
        for strategy, exact in (
            ("vector: production", None),
            ("vector: exact", True),
            ("vector: hnsw", False),
        ):
            t0 = time.perf_counter()
            # As search() asks: MIN_CANDIDATES nearest, of which the first 10 are compared.
            ids = [pk for pk, _ in selectors.vector_candidates(sql_scope, vector, n_candidates, exact=exact)]
            record(strategy, scope, (time.perf_counter() - t0) * 1000, recall_of(ids))
        if n % 50 == 0:
            say(f"  {n}/{len(chosen)} queries")
    return results


def report(size: int, results: dict[str, dict[str, Stats]]) -> None:
    print(f"\n== {size:,} memories ==")
    print(f"{'strategy':30} {'bucket':8} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'recall@10':>9}")
    for strategy, buckets in results.items():
        for bucket in ["all", *(name for _, name in BUCKETS), ">30k"]:
            stats = buckets.get(bucket)
            if not stats:
                continue
            recall = f"{sum(stats.recall) / len(stats.recall):.3f}" if stats.recall else "-"
            print(
                f"{strategy:30} {bucket:8} {len(stats.latency_ms):5d} {median(stats.latency_ms):8.2f} "
                f"{percentile(stats.latency_ms, 99):8.2f} {recall:>9}"
            )
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--scopes", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--max-query-seconds", type=float, default=600)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--shared-buffers", default="4GB")
    parser.add_argument("--ef-search", type=int, default=None, help="override HNSW_EF_SEARCH")
    args = parser.parse_args()
    with database(shared_buffers=args.shared_buffers, data_dir=args.data_dir) as url:
        setup_django(url)
        from memory import selectors

        if args.ef_search:
            selectors.HNSW_EF_SEARCH = args.ef_search
        from memory.selectors import EXACT_SCAN_MAX, HNSW_EF_SEARCH, HNSW_MIN_FRACTION

        say(
            f"EXACT_SCAN_MAX={EXACT_SCAN_MAX}, HNSW_MIN_FRACTION={HNSW_MIN_FRACTION}, "
            f"hnsw.ef_search={HNSW_EF_SEARCH}, iterative_scan=relaxed_order"
        )
        scopes = create_scopes(args.scopes, random.Random(3))
        for size in sorted(args.sizes):
            load(url, scopes, size, seed=size)
            sizes = sorted((s.size for s in scopes), reverse=True)
            say(f"scope sizes: largest {sizes[:5]}, median {sizes[len(sizes) // 2]}, smallest {sizes[-1]}")
            report(size, measure(scopes, args.queries, args.max_query_seconds, seed=size + 1))


if __name__ == "__main__":
    main()
