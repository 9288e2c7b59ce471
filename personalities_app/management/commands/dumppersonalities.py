"""``manage.py dumppersonalities [PATH]``: write personalities out in the loader's format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from personalities_app.io import export_files
from personalities_app.models import Personality

from .loadpersonalities import BUNDLED


class Command(BaseCommand):
    help = (
        "Write every personality (or those given with --slug) to PATH (the bundled personalities/ "
        "folder by default): <slug>.json each, uploaded avatars as avatars/<slug>.<ext>. "
        "`loadpersonalities PATH` reads them back."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", default=str(BUNDLED), help="A folder (created if missing).")
        parser.add_argument("--slug", action="append", default=[], help="Only this one (repeatable).")

    def handle(self, *args: Any, path: str, slug: list[str], **options: Any) -> None:
        personalities = Personality.objects.order_by("slug")
        if slug:
            personalities = personalities.filter(slug__in=slug)
            missing = sorted(set(slug) - {p.slug for p in personalities})
            if missing:
                raise CommandError(f"No personality with the slug(s): {', '.join(missing)}.")
        folder = Path(path)
        if folder.exists() and not folder.is_dir():
            raise CommandError(f"{folder} is a file; give a folder.")
        files = export_files(personalities)
        for relative, content in files:
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        count = sum(relative.endswith(".json") for relative, _ in files)
        self.stdout.write(f"Wrote {count} personalities to {folder}.")
