"""``manage.py import_chat PATH --personality SLUG --user ID [--format F] [--dry-run]``: a chat history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ingest.chats import FORMATS
from ingest.models import ImportKind
from ingest.services import import_file

from ._common import run_import


class Command(BaseCommand):
    help = (
        "Import a chat history (SillyTavern .jsonl, SpicyChat JSON, or the generic tzurot-chat-v1 "
        "JSON) as long-term memories of one user with one personality, one memory per exchange, "
        "with the original times. See docs/ingestion.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="The chat file (.jsonl or .json).")
        parser.add_argument("--personality", required=True, help="Slug of the personality it was with.")
        parser.add_argument("--user", dest="user_id", required=True, help="Discord user id of the person.")
        parser.add_argument(
            "--format", dest="chat_format", default="auto", choices=("auto", *FORMATS), help="Default: auto."
        )
        parser.add_argument(
            "--user-name", default="", help="The user's name in the memories (default: the file's)."
        )
        parser.add_argument("--dry-run", action="store_true", help="Report what would happen; write nothing.")

    def handle(
        self,
        *args: Any,
        path: str,
        personality: str,
        user_id: str,
        chat_format: str,
        user_name: str,
        dry_run: bool,
        **options: Any,
    ) -> None:
        run_import(
            self,
            lambda progress: import_file(
                kind=ImportKind.CHAT,
                path=Path(path),
                user_id=user_id,
                personality_slug=personality,
                chat_format=chat_format,
                user_name=user_name,
                dry_run=dry_run,
                progress=progress,
            ),
        )
