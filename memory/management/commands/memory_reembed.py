"""``python manage.py memory_reembed``: embed every memory again after the embedder changed."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from memory.embeddings import EmbeddingError, get_embedder
from memory.services import memory_reembed


class Command(BaseCommand):
    help = (
        "Embed every memory again with the configured embedder (EMBEDDING_BACKEND, EMBEDDING_MODEL, "
        "EMBEDDING_DIMENSIONS). Run it after changing the embedder; if the dimensions changed, the "
        "column is resized first. Rows it cannot embed are left pending for the periodic task."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=256, help="Memories per batch (default 256).")

    def handle(self, *args: Any, batch_size: int, **options: Any) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            embedder = get_embedder()
        except Exception as exc:
            raise CommandError(f"The embedder could not be started: {exc}") from exc
        self.stdout.write(f"Re-embedding with {embedder.name} ({settings.EMBEDDING_DIMENSIONS} dimensions)…")
        started = time.monotonic()

        def progress(done: int, total: int) -> None:
            rate = done / max(time.monotonic() - started, 1e-6)
            self.stdout.write(f"  {done}/{total} memories ({rate:.0f}/s)")

        try:
            done, total = memory_reembed(batch_size=batch_size, progress=progress)
        except EmbeddingError as exc:
            raise CommandError(
                f"The embedder failed ({exc}); the rest are pending and will be embedded by the "
                "periodic task, or run this command again."
            ) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Re-embedded {done} of {total} memories in {time.monotonic() - started:.1f} s."
            )
        )
