"""The personalities the bot serves, and finding them by name in a message.

``PersonalityDirectory`` keeps the list from ``GET /personalities/`` in memory
and refreshes it when it is older than ``refresh_after`` seconds (on use, under
a lock, keeping the old list if the API is down). ``NameIndex`` finds who a
message addresses: ``@Name`` anywhere, or the name as the message's first
words; case-insensitive, multi-word names, the longest name wins, never
inside code.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable

from .api import BackendUnavailable, PersonalityInfo, TzurotApi, TzurotApiError

log = logging.getLogger(__name__)

_CODE = re.compile(r"```.*?(?:```|$)|`[^`\n]*`", re.DOTALL)
# What may follow a name: the end, a space, or punctuation that ends a word.
_AFTER_NAME = r"(?=$|[\s,.:;!?)\]\"])"


def _normalise(name: str) -> str:
    return " ".join(name.casefold().split())


def strip_code(text: str) -> str:
    """The text with code blocks and inline code blanked out (same length, so positions hold)."""
    return _CODE.sub(lambda m: " " * len(m.group(0)), text)


class NameIndex:
    def __init__(self, personalities: list[PersonalityInfo]) -> None:
        self.by_name: dict[str, str] = {}
        # Stable: personalities in slug order, and each one's name before its aliases.
        for person in sorted(personalities, key=lambda p: p.slug):
            for name in (person.name, person.display_name, person.slug, *person.aliases):
                key = _normalise(name)
                if key and key not in self.by_name:
                    self.by_name[key] = person.slug
        names = sorted(self.by_name, key=len, reverse=True)  # longest first: the longest match wins
        if names:
            alternatives = "|".join(r"\s+".join(re.escape(word) for word in n.split()) for n in names)
            self._mention = re.compile(rf"(?<![\w@])@({alternatives}){_AFTER_NAME}", re.IGNORECASE)
            self._leading = re.compile(rf"\s*@?({alternatives}){_AFTER_NAME}", re.IGNORECASE)
        else:
            self._mention = self._leading = None

    def lookup(self, name: str) -> str | None:
        return self.by_name.get(_normalise(name.removeprefix("@")))

    def find(self, text: str) -> list[str]:
        """Slugs addressed in ``text``, in order of appearance, each once."""
        if self._mention is None or self._leading is None:
            return []
        visible = strip_code(text)
        found: list[tuple[int, str]] = []
        leading = self._leading.match(visible)
        if leading:
            found.append((leading.start(1), self.by_name[_normalise(leading.group(1))]))
        for match in self._mention.finditer(visible):
            found.append((match.start(1), self.by_name[_normalise(match.group(1))]))
        slugs: list[str] = []
        for _, slug in sorted(found):
            if slug not in slugs:
                slugs.append(slug)
        return slugs


class PersonalityDirectory:
    def __init__(
        self, api: TzurotApi, *, refresh_after: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.api = api
        self.refresh_after = refresh_after
        self._clock = clock
        self._by_slug: dict[str, PersonalityInfo] = {}
        self._index = NameIndex([])
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    @property
    def loaded(self) -> bool:
        return self._loaded_at is not None

    async def refresh(self) -> list[PersonalityInfo]:
        """Load the list now; raises when the API cannot be reached."""
        async with self._lock:
            people = await self.api.list_personalities()
            self._by_slug = {p.slug: p for p in people}
            self._index = NameIndex(people)
            self._loaded_at = self._clock()
            return people

    async def _fresh(self) -> None:
        if self._loaded_at is not None and self._clock() - self._loaded_at < self.refresh_after:
            return
        if self._lock.locked() and self._loaded_at is not None:
            return  # someone is refreshing; use what we have meanwhile
        try:
            await self.refresh()
        except (BackendUnavailable, TzurotApiError) as exc:
            log.warning("Could not refresh the personality list (%s); keeping the old one", exc)

    async def all(self) -> list[PersonalityInfo]:
        await self._fresh()
        return sorted(self._by_slug.values(), key=lambda p: p.shown_name.casefold())

    async def index(self) -> NameIndex:
        await self._fresh()
        return self._index

    async def get(self, slug: str) -> PersonalityInfo | None:
        await self._fresh()
        found = self._by_slug.get(slug)
        if found is None:
            # Not in the public list (private, or new since the last refresh): ask for it.
            try:
                found = await self.api.get_personality(slug)
            except (BackendUnavailable, TzurotApiError):
                return None
        return found

    async def find(self, name: str) -> PersonalityInfo | None:
        """A personality by slug, name, display name or alias (case-insensitive)."""
        slug = (await self.index()).lookup(name)
        return self._by_slug.get(slug) if slug else None
