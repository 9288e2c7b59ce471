"""Splitting a reply into Discord-sized messages.

Discord refuses messages over 2000 characters. A long reply is cut at the best
boundary that fits: a paragraph break, else a line break, else the end of a
sentence, else a space, else anywhere. Fenced code blocks are boundaries of
their own and are kept whole when they can be; a block that has to be cut is
closed at the end of one message and reopened (with its language) at the start
of the next, so every message renders as code where the text was code.

``split_parts`` returns the parts with their added fences apart, which is what
the property test checks: the bodies put together are exactly the input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DISCORD_LIMIT = 2000
FENCE = "```"
# A fence's language: a short word right after the opening backticks, then a newline.
_OPEN_FENCE = re.compile(r"```([A-Za-z0-9_+\-.#]{0,32})\n")


@dataclass(frozen=True)
class Part:
    """One message: ``prefix + body + suffix``; prefix/suffix are fences added by the split."""

    body: str
    prefix: str = ""
    suffix: str = ""

    @property
    def text(self) -> str:
        return self.prefix + self.body + self.suffix


@dataclass(frozen=True)
class _Block:
    start: int  # index of the opening backticks
    inner: int  # first index of the code itself (after the fence line)
    end: int  # index just after the closing backticks
    language: str


def _code_blocks(text: str) -> list[_Block]:
    blocks: list[_Block] = []
    pos = 0
    while True:
        start = text.find(FENCE, pos)
        if start < 0:
            return blocks
        match = _OPEN_FENCE.match(text, start)
        inner = match.end() if match else start + len(FENCE)
        close = text.find(FENCE, inner)
        if close < 0:  # an unclosed fence is not a code block for Discord either
            return blocks
        blocks.append(_Block(start, inner, close + len(FENCE), match.group(1) if match else ""))
        pos = close + len(FENCE)


def _level(text: str, cut: int) -> int:
    """How good a cut before ``text[cut]`` is: 0 paragraph, 1 line, 2 sentence, 3 word, 4 none."""
    before = text[cut - 1]
    if before == "\n":
        return 0 if cut >= 2 and text[cut - 2] == "\n" else 1
    if before.isspace():
        return 2 if cut >= 2 and text[cut - 2] in ".!?…" else 3
    return 4


def _best_cut(text: str, low: int, high: int, blocks: list[_Block]) -> int | None:
    """The best cut in (low, high] that is not inside a code block; None if every position is."""
    best: int | None = None
    best_level = 5
    index = len(blocks) - 1
    cut = high
    while cut > low:
        while index >= 0 and blocks[index].start >= cut:
            index -= 1
        if index >= 0 and blocks[index].start < cut < blocks[index].end:
            cut = blocks[index].start  # jump over the block; its start is a fine cut
            continue
        ends_block = index >= 0 and blocks[index].end == cut
        starts_block = index + 1 < len(blocks) and blocks[index + 1].start == cut
        level = 0 if ends_block or starts_block else _level(text, cut)
        if level < best_level:
            best, best_level = cut, level
            if level == 0:
                break
        cut -= 1
    return best


def _cut_inside(text: str, low: int, high: int) -> tuple[int, str]:
    """A cut inside code in (low, high], after a newline if possible; returns it and the closing fence."""
    newline = text.rfind("\n", low + 1, high + 1)
    if newline >= 0 and newline + 1 > low:
        return newline + 1, FENCE
    return high, "\n" + FENCE


def split_parts(text: str, limit: int = DISCORD_LIMIT) -> list[Part]:
    if len(text) <= limit:
        return [Part(text)] if text else []
    blocks = _code_blocks(text)
    parts: list[Part] = []
    pos = 0
    prefix = ""
    while pos < len(text):
        budget = limit - len(prefix)
        if len(text) - pos <= budget:
            parts.append(Part(text[pos:], prefix))
            break
        inside = next((b for b in blocks if b.start < pos < b.end), None)
        cut = _best_cut(text, pos, pos + budget, blocks)
        if cut is not None and cut > pos:
            parts.append(Part(text[pos:cut], prefix))
            pos, prefix = cut, ""
            continue
        # Everything within reach is code: cut inside the block and reopen it after.
        block = inside or next(b for b in blocks if b.start <= pos < b.end)
        low = max(pos, block.inner)
        high = pos + budget - len("\n" + FENCE)
        cut, suffix = _cut_inside(text, low, high)
        if cut <= pos:  # the fence line itself is in the way: cut hard (never happens with sane limits)
            cut, suffix = high, "\n" + FENCE
        parts.append(Part(text[pos:cut], prefix, suffix))
        pos, prefix = cut, f"{FENCE}{block.language}\n"
    return parts


def split_message(text: str, limit: int = DISCORD_LIMIT) -> list[str]:
    """Messages of at most ``limit`` characters that together say ``text``; blank ones left out."""
    return [part.text for part in split_parts(text, limit) if part.text.strip()]
