"""``manage.py import_shapes PATH [--user ID] [--user-name NAME] [--dry-run]``: a Shapes.inc backup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ingest.models import ImportKind
from ingest.services import import_file

from ._common import run_import


class Command(BaseCommand):
    help = (
        "Import a Shapes.inc backup (a folder, a .zip/.tar.gz archive, or one export .json): the "
        "shape becomes a personality (by slug from its username), its stories knowledge entries, the "
        "user's personalization their relationship profile, and the memories their long-term "
        "memories with the character. Everything is checked before anything is written; a second "
        "run changes nothing. See docs/ingestion.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "path", help="The backup: a folder, a .zip/.tar.gz/.tgz/.tar archive, or a .json file."
        )
        parser.add_argument(
            "--user",
            dest="user_id",
            default="",
            help="Discord user id the backup belongs to (required unless its personalization file has one).",
        )
        parser.add_argument(
            "--user-name", default="", help="The user's name in the memories, if not their preferred name."
        )
        parser.add_argument("--dry-run", action="store_true", help="Report what would happen; write nothing.")

    def handle(
        self, *args: Any, path: str, user_id: str, user_name: str, dry_run: bool, **options: Any
    ) -> None:
        run_import(
            self,
            lambda progress: import_file(
                kind=ImportKind.SHAPES,
                path=Path(path),
                user_id=user_id,
                user_name=user_name,
                dry_run=dry_run,
                progress=progress,
            ),
        )
