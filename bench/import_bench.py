"""Import throughput: a synthetic Shapes.inc backup of N memories through ``import_shapes``.

Generates the backup (``bench/shapes_backup.py``), then, on a fresh database:

1. baseline: the embedder alone on a sample of the memories' texts (no database),
   so the import's cost can be read against what embedding costs anyway;
2. ``manage.py import_shapes`` on the whole backup (read, check, embed with the
   configured embedder, store in one transaction): memories per second;
3. the same import again (idempotent: everything skipped), and a ``--dry-run``.

The embedder is whatever the settings say (default: the local
all-MiniLM-L6-v2 on the CPU); the script prints which, with the machine's
cores and load average before and after. ``--embedder fake`` instead points
the ``openai`` backend at the loopback fake of the test suite (hash-made
vectors, no model): what is left is the cost of the import itself (reading,
checking, hashing, inserting, the HNSW index, provenance).

Run (from the repository root; starts its own PostgreSQL unless DATABASE_URL is set):

    .venv/bin/python bench/import_bench.py --memories 50000
    .venv/bin/python bench/import_bench.py --memories 50000 --embedder fake
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from io import StringIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _memory_env import database, say, setup_django
from shapes_backup import SLUG, write_backup

USER = "123456789012345678"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--memories", type=int, default=50_000)
    parser.add_argument("--sample", type=int, default=2000, help="Texts embedded alone for the baseline.")
    parser.add_argument("--keep", type=Path, help="Write the backup here and keep it.")
    parser.add_argument("--embedder", choices=("settings", "fake"), default="settings")
    args = parser.parse_args()
    fake = None
    if args.embedder == "fake":
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.fakes.openai_server import FakeOpenAI

        fake = FakeOpenAI().start()
        os.environ.update(
            EMBEDDING_BACKEND="openai",
            EMBEDDING_MODEL="fake-embedding",
            EMBEDDING_BASE_URL=fake.base_url,
            EMBEDDING_API_KEY="sk-bench",
        )

    say(f"machine: {os.cpu_count()} cores, load average (1/5/15 min) {load()}")
    work = Path(tempfile.mkdtemp(prefix="tzurot-import-bench-"))
    backup = write_backup(args.keep or work / "backup", args.memories)
    size = sum(p.stat().st_size for p in backup.iterdir())
    say(f"backup: {args.memories:,} memories, {size / 2**20:.1f} MiB, in {backup}")

    with database(shared_buffers="512MB") as url:
        setup_django(url)
        import torch
        from django.core.management import call_command

        from memory.embeddings import embed, get_embedder
        from memory.models import Memory

        embedder = get_embedder()
        threads = torch.get_num_threads()
        say(f"embedder: {embedder.name} ({embedder.dimensions} dimensions), torch threads {threads}")

        texts = [
            m["result"] for m in json.loads((backup / f"{SLUG}_memories.json").read_text())[: args.sample]
        ]
        embed(texts[:64])  # warm-up: the model is loaded once per process
        started = time.perf_counter()
        embed(texts)
        baseline = time.perf_counter() - started
        say(f"baseline: embedding {len(texts):,} texts alone: {len(texts) / baseline:,.0f} texts/s")

        load_before = load()
        out, err = StringIO(), StringIO()
        started = time.perf_counter()
        call_command("import_shapes", str(backup), "--user", USER, stdout=out, stderr=err)
        seconds = time.perf_counter() - started
        stored = Memory.objects.filter(personality__slug=SLUG, user_id=USER).count()
        say(f"import: {seconds:,.1f} s, {stored:,} memories stored, {stored / seconds:,.0f} memories/s")
        say(f"load average before / after the import: {load_before} -> {load()}")
        print(out.getvalue(), end="")

        started = time.perf_counter()
        again = StringIO()
        call_command("import_shapes", str(backup), "--user", USER, stdout=again, stderr=StringIO())
        second = time.perf_counter() - started
        say(f"second import (nothing to do): {second:,.1f} s")
        started = time.perf_counter()
        call_command(
            "import_shapes", str(backup), "--user", USER, "--dry-run", stdout=StringIO(), stderr=StringIO()
        )
        dry = time.perf_counter() - started
        say(f"dry run: {dry:,.1f} s")

        print()
        print("| figure | value |")
        print("|---|---|")
        print(f"| memories in the backup | {args.memories:,} ({size / 2**20:.1f} MiB) |")
        print(f"| embedder | {embedder.name}, CPU, torch threads {torch.get_num_threads()} |")
        print(f"| baseline: embedding alone ({len(texts):,} texts) | {len(texts) / baseline:,.0f} texts/s |")
        rate = stored / seconds
        print(
            f"| `import_shapes` (read, check, embed, store) | {seconds:,.1f} s, **{rate:,.0f} memories/s** |"
        )
        print(f"| import / embedding-alone throughput | {(stored / seconds) / (len(texts) / baseline):.2f} |")
        print(f"| second import (all skipped) | {second:,.1f} s |")
        print(f"| `--dry-run` | {dry:,.1f} s |")
        print(f"| load average before / after | {load_before} → {load()} |")
    if fake is not None:
        fake.stop()


if __name__ == "__main__":
    main()
