"""Memory ingest throughput with the local embedder (all-MiniLM-L6-v2 on the CPU).

Measures memories stored per second, embedding included, three ways:

* ``memory_add_many`` (batched: what an import uses), ``--batch`` memories at a time;
* ``memory_add`` one at a time (what the write task does once per exchange);
* the embedder alone on the same texts (the share of the time that is the model).

Texts are exchanges of realistic length (about 200 characters) put together
from the turns of bench/memory_eval/. Run (from the repository root; starts its
own PostgreSQL unless DATABASE_URL is set):

    .venv/bin/python bench/memory_ingest.py --memories 3000

Each phase stops early at ``--max-seconds`` (default 180).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _memory_env import database, say, setup_django

EVAL_DIR = Path(__file__).resolve().parent / "memory_eval"


def texts(n: int, seed: int) -> list[str]:
    turns = []
    for path in EVAL_DIR.glob("*.txt"):
        for line in path.read_text().splitlines():
            if "|" in line:
                _, user, reply = (part.strip() for part in line.split("|"))
                turns.append((user, reply))
    rng = random.Random(seed)
    out = []
    for i in range(n):
        user, reply = rng.choice(turns)
        extra, _ = rng.choice(turns)
        out.append(f"Alex: {user} {extra} (#{i})\nLilith: {reply}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, default=3000)
    parser.add_argument("--single", type=int, default=300, help="memories for the one-at-a-time phase")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--max-seconds", type=float, default=180)
    args = parser.parse_args()
    with database(shared_buffers="512MB") as url:
        setup_django(url)
        import torch

        from memory.embeddings import get_embedder
        from memory.services import memory_add, memory_add_many
        from personalities_app.models import Personality

        t0 = time.monotonic()
        embedder = get_embedder()
        say(
            f"{embedder.name} loaded in {time.monotonic() - t0:.1f} s; torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads"
        )
        person = Personality.objects.create(slug="ingest", name="Lilith")
        batch_texts = texts(args.memories, 1)
        mean_chars = sum(map(len, batch_texts)) / len(batch_texts)
        say(f"{len(batch_texts)} texts, {mean_chars:.0f} characters on average")

        embedder.embed(batch_texts[:64])  # warm-up
        t0 = time.monotonic()
        done = 0
        for start in range(0, len(batch_texts), args.batch):
            embedder.embed(batch_texts[start : start + args.batch])
            done += len(batch_texts[start : start + args.batch])
            if time.monotonic() - t0 > args.max_seconds:
                break
        embed_rate = done / (time.monotonic() - t0)
        say(f"embedding alone: {done} texts, {embed_rate:.0f}/s")

        t0 = time.monotonic()
        stored = 0
        for start in range(0, len(batch_texts), args.batch):
            chunk = [{"text": t, "source": "import"} for t in batch_texts[start : start + args.batch]]
            stored += memory_add_many(personality=person, user_id="1", items=chunk)
            rate = stored / (time.monotonic() - t0)
            say(f"  memory_add_many: {stored}/{len(batch_texts)} stored ({rate:.0f}/s)")
            if time.monotonic() - t0 > args.max_seconds:
                break
        many_rate = stored / (time.monotonic() - t0)

        single_texts = texts(args.single, 2)
        t0 = time.monotonic()
        added = 0
        for text in single_texts:
            memory_add(personality=person, user_id="2", text=text)
            added += 1
            if added % 100 == 0:
                say(f"  memory_add: {added}/{len(single_texts)} ({added / (time.monotonic() - t0):.0f}/s)")
            if time.monotonic() - t0 > args.max_seconds:
                break
        single_rate = added / (time.monotonic() - t0)

        print("\n== ingest throughput (local all-MiniLM-L6-v2, CPU) ==")
        print(f"{'path':44} {'memories':>9} {'per second':>11}")
        print(f"{'memory_add_many, batches of ' + str(args.batch):44} {stored:9d} {many_rate:11.0f}")
        print(f"{'memory_add, one at a time (the write task)':44} {added:9d} {single_rate:11.0f}")
        print(f"{'embedding alone, batches of ' + str(args.batch):44} {done:9d} {embed_rate:11.0f}")


if __name__ == "__main__":
    main()
