from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from credentials.services import credential_rotate_key


def _key(value: str | None, path: str | None, name: str) -> str | None:
    if value is not None and path is not None:
        raise CommandError(f"Give --{name} or --{name}-file, not both.")
    if path is not None:
        try:
            value = Path(path).read_text().strip()
        except OSError as exc:
            raise CommandError(f"--{name}-file {path!r} cannot be read ({exc.strerror}).") from None
        if not value:
            raise CommandError(f"--{name}-file {path!r} is empty.")
    return value


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored user API key under a new FIELD_ENCRYPTION_KEY, given the old one. "
        "The new key defaults to the configured FIELD_ENCRYPTION_KEY. Safe to run again: keys already "
        "under the new key are skipped. Prefer the *-file options: arguments show up in process lists."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--old-key", help="The previous FIELD_ENCRYPTION_KEY.")
        parser.add_argument("--old-key-file", help="A file holding the previous FIELD_ENCRYPTION_KEY.")
        parser.add_argument("--new-key", help="The new key (default: the configured FIELD_ENCRYPTION_KEY).")
        parser.add_argument("--new-key-file", help="A file holding the new key.")
        parser.add_argument("--dry-run", action="store_true", help="Report what would change; write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        old_key = _key(options["old_key"], options["old_key_file"], "old-key")
        if not old_key:
            raise CommandError("Give the previous key with --old-key-file PATH (or --old-key).")
        new_key = (
            _key(options["new_key"], options["new_key_file"], "new-key") or settings.FIELD_ENCRYPTION_KEY
        )
        if old_key == new_key:
            raise CommandError(
                "The old and the new key are the same. Give the new key with --new-key-file, "
                "or run with FIELD_ENCRYPTION_KEY set to the new key."
            )
        dry_run = options["dry_run"]
        report = credential_rotate_key(old_key=old_key, new_key=new_key, dry_run=dry_run)
        for pk, user_id, provider in report.unreadable:
            self.stderr.write(
                self.style.WARNING(
                    f"credential {pk} (user {user_id}, {provider}): readable with neither key; left as it is."
                )
            )
        verb = "would be re-encrypted" if dry_run else "re-encrypted"
        self.stdout.write(
            f"{report.reencrypted} {verb}, {report.already_current} already current, "
            f"{len(report.unreadable)} unreadable." + (" Dry run: nothing was written." if dry_run else "")
        )
