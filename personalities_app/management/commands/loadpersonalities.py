"""``manage.py loadpersonalities [PATH] [--dry-run]``: upsert personalities from files, all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from personalities_app.io import PersonalityFileError, read_path
from personalities_app.services import UpsertOutcome, personalities_upsert

BUNDLED = Path(settings.BASE_DIR) / "personalities"


def summary(outcomes: list[UpsertOutcome], *, dry_run: bool) -> str:
    counts = {
        action: sum(o.action == action for o in outcomes) for action in ("created", "updated", "unchanged")
    }
    text = ", ".join(f"{count} {action}" for action, count in counts.items())
    return f"{text} (dry run: nothing was written)" if dry_run else text


class Command(BaseCommand):
    help = (
        "Create or update personalities (by slug) from a personality JSON file, a Character Card "
        "V2 (.json or .png), or a folder of them; the bundled personalities/ folder by default. "
        "Every file is checked first: one bad file changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", default=str(BUNDLED), help="A file or a folder.")
        parser.add_argument("--dry-run", action="store_true", help="Report what would change; write nothing.")

    def handle(self, *args: Any, path: str, dry_run: bool, **options: Any) -> None:
        try:
            specs = read_path(Path(path))
        except PersonalityFileError as exc:
            raise CommandError(f"Nothing was loaded. {exc}") from None
        outcomes = personalities_upsert(specs=specs, dry_run=dry_run)
        for outcome in outcomes:
            detail = f" ({', '.join(outcome.changed)})" if outcome.changed else ""
            self.stdout.write(f"{outcome.action:<9} {outcome.slug}{detail}  [{outcome.source}]")
        self.stdout.write(summary(outcomes, dry_run=dry_run))
