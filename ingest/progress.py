"""Progress of a long import: a bar on a terminal, plain lines elsewhere.

On a TTY the bar is redrawn in place (at most ten times a second); when the
output is a file or a pipe (CI logs, the Celery worker's log) a line is written
every tenth of the way or every 30 seconds, whichever comes first, so logs stay
readable.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol, TextIO

BAR_WIDTH = 30
REDRAW_SECONDS = 0.1
LINE_SECONDS = 30.0


class Progress(Protocol):
    def advance(self, count: int = 1) -> None: ...

    def close(self) -> None: ...


ProgressFactory = Callable[[str, int], Progress]


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class _Counter:
    def __init__(self, label: str, total: int, clock: Callable[[], float]) -> None:
        self.label = label
        self.total = max(total, 0)
        self.done = 0
        self.clock = clock
        self.started = clock()

    def rate(self) -> float:
        elapsed = self.clock() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def summary(self) -> str:
        rate = self.rate()
        text = f"{self.label}: {self.done:,}/{self.total:,}"
        if self.total:
            text += f" ({100 * self.done // self.total}%)"
        if rate:
            text += f", {rate:,.0f}/s"
            if self.total > self.done:
                text += f", about {_duration((self.total - self.done) / rate)} left"
        return text


class TerminalProgress(_Counter):
    """A bar on a terminal (``stream.isatty()``), else periodic lines on ``stream``."""

    def __init__(
        self, label: str, total: int, stream: TextIO, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(label, total, clock)
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.last_draw = 0.0
        self.next_tenth = 1
        self.last_line = self.started
        self.closed = False

    def advance(self, count: int = 1) -> None:
        self.done = min(self.done + count, self.total) if self.total else self.done + count
        now = self.clock()
        if self.tty:
            if now - self.last_draw >= REDRAW_SECONDS or self.done >= self.total:
                self._draw()
                self.last_draw = now
            return
        tenth = 10 * self.done // self.total if self.total else 0
        if tenth >= self.next_tenth or now - self.last_line >= LINE_SECONDS:
            self.next_tenth = tenth + 1
            self.last_line = now
            self.stream.write(self.summary() + "\n")
            self.stream.flush()

    def _draw(self) -> None:
        filled = BAR_WIDTH * self.done // self.total if self.total else BAR_WIDTH
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self.stream.write(f"\r[{bar}] {self.summary()}\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.tty:
            self._draw()
            self.stream.write("\n")
        elif self.done and self.next_tenth <= 10:
            self.stream.write(self.summary() + "\n")
        self.stream.flush()


class LogProgress(_Counter):
    """Progress as log lines (the Celery task): every tenth of the way."""

    def __init__(self, label: str, total: int, logger: logging.Logger) -> None:
        super().__init__(label, total, time.monotonic)
        self.logger = logger
        self.next_tenth = 1

    def advance(self, count: int = 1) -> None:
        self.done += count
        tenth = 10 * self.done // self.total if self.total else 10
        if tenth >= self.next_tenth:
            self.next_tenth = tenth + 1
            self.logger.info("%s", self.summary())

    def close(self) -> None:
        return None


class NoProgress:
    def advance(self, count: int = 1) -> None:
        return None

    def close(self) -> None:
        return None


def no_progress(label: str, total: int) -> Progress:
    return NoProgress()
