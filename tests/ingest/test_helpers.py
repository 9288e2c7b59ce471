"""The small parts of imports: the notable-facts rule, the progress display, the benchmark's generator."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from ingest.facts import notable_facts
from ingest.progress import TerminalProgress
from memory.models import Memory

from .conftest import USER, run

ROOT = Path(__file__).resolve().parent.parent.parent


def test_notable_facts_are_sentences_starting_with_the_users_name_and_a_fact_verb_or_possessive() -> None:
    texts = [
        "Ally works as a nurse. Wren thinks Ally works too hard. Ally\u2019s cat is called Biscuit!",
        "ally grew up in Cork and misses it. They talked about the weather for a long while.",
        "Ally works as a nurse.",  # already found, from a newer memory
        "Ally. Ally is ok.",  # too short to be a fact
        "Alison likes jazz.",  # another name
    ]
    assert notable_facts(texts, ["Ally"]) == [
        "Ally works as a nurse.",
        "Ally\u2019s cat is called Biscuit!",
        "ally grew up in Cork and misses it.",
    ]
    assert notable_facts(texts, []) == []
    assert notable_facts(["Ally likes tea number one. Ally likes tea number two."], ["Ally"], limit=1) == [
        "Ally likes tea number one."
    ]


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_redrawn_in_place_on_a_terminal() -> None:
    now = [0.0]
    stream = FakeTerminal()
    bar = TerminalProgress("memories", 200, stream, clock=lambda: now[0])
    for _ in range(4):
        now[0] += 1.0
        bar.advance(50)
    bar.close()
    output = stream.getvalue()
    assert output.count("\r[") >= 4 and output.endswith("\n")
    assert "\r[##############################] memories: 200/200 (100%), 50/s" in output
    assert "[#######-----------------------] memories: 50/200 (25%), 50/s, about 3s left" in output


def test_the_benchmarks_generated_backup_imports(tmp_path: Path, db: None, fake_embedder: object) -> None:
    out = tmp_path / "backup"
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "shapes_backup.py"), str(out), "--memories", "300"],
        check=True,
        capture_output=True,
    )
    records = json.loads((out / "harbour-keeper_memories.json").read_text())
    deleted = sum(record["deleted"] for record in records)
    stdout, _ = run("import_shapes", str(out), "--user", USER)
    assert f"memories     created {300 - deleted}, updated 0, skipped {deleted}, failed 0" in stdout
    assert Memory.objects.filter(personality__slug="harbour-keeper").count() == 300 - deleted


def test_a_backup_without_memories_still_imports_the_character(tmp_path: Path, db: None) -> None:
    out = tmp_path / "empty"
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "shapes_backup.py"), str(out), "--memories", "0"],
        check=True,
        capture_output=True,
    )
    (out / "harbour-keeper_knowledge.json").write_text("[]")
    stdout, _ = run("import_shapes", str(out), "--user", USER)
    assert "personality  created 1" in stdout and "memories     created 0" in stdout
