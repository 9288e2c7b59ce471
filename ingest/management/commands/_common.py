"""What the import commands share: progress on stderr, the report on stdout, errors as CommandError."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ingest.files import ImportFileError
from ingest.progress import Progress, TerminalProgress
from ingest.report import ImportReport
from ingest.services import ImportOptionError


def run_import(command: BaseCommand, work: Callable[[Callable[[str, int], Progress]], ImportReport]) -> None:
    # The raw stream: the bar redraws its line with "\r", which Django's wrapper would end with "\n".
    stream: Any = getattr(command.stderr, "_out", command.stderr)

    def progress(label: str, total: int) -> Progress:
        return TerminalProgress(label, total, stream)

    started = time.monotonic()
    try:
        report = work(progress)
    except (ImportFileError, ImportOptionError) as exc:
        raise CommandError(f"Nothing was imported. {exc}") from None
    for line in report.lines():
        command.stdout.write(line)
    command.stderr.write(f"done in {time.monotonic() - started:.1f} s")
