"""Fixtures of the import tests: the sample backups, a quick embedder, running the commands."""

from __future__ import annotations

import shutil
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.forms.models import model_to_dict

from memory.models import Memory
from personalities_app.models import KnowledgeEntry, Personality, RelationshipProfile

DATA = Path(__file__).resolve().parent.parent / "data"
WREN = DATA / "shapes" / "wren"
CHATS = DATA / "chats"
USER = "123456789012345678"


@pytest.fixture
def wren(tmp_path: Path) -> Path:
    """A copy of the sample Shapes.inc backup that a test may edit."""
    folder = tmp_path / "wren"
    shutil.copytree(WREN, folder)
    return folder


def run(command: str, *args: str) -> tuple[str, str]:
    """Run a management command; (stdout, stderr)."""
    out, err = StringIO(), StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def report_lines(stdout: str) -> list[str]:
    """The report without the dry-run marker (a dry run and the real run must print the same)."""
    return [line for line in stdout.splitlines() if line != "dry run: nothing was written"]


def snapshot() -> dict[str, Any]:
    """Everything an import writes, to compare before and after."""
    return {
        "personalities": {
            p.slug: {**model_to_dict(p, exclude=["avatar_image"]), "updated_at": p.updated_at}
            for p in Personality.objects.all()
        },
        "memories": sorted(
            Memory.objects.values_list("id", "personality_id", "user_id", "text", "created_at", "source_id")
        ),
        "knowledge": sorted(
            KnowledgeEntry.objects.values_list(
                "id", "title", "content", "keywords", "updated_at", "embedded_hash"
            )
        ),
        "profiles": sorted(
            RelationshipProfile.objects.values_list(
                "id", "preferred_name", "pronouns", "backstory", "notable_facts", "updated_at"
            )
        ),
    }
