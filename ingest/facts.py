"""Notable facts for a relationship profile, picked from imported memories by a fixed rule.

The rule (documented in docs/ingestion.md), deliberately simple and
predictable rather than clever: a *notable fact* is a sentence of an imported
memory that starts with the user's name followed by a verb from
:data:`FACT_VERBS` ("Ally works as a nurse.") or by the possessive
("Ally's cat is called Biscuit."). Memories are read newest first; sentences
are kept whole, once each (compared case-insensitively), between
:data:`MIN_CHARS` and the profile's fact limit, at most :data:`MAX_FACTS`.
No model is asked: the same memories always give the same facts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from personalities_app.validators import MAX_FACT_CHARS

MAX_FACTS = 10
MIN_CHARS = 12
FACT_VERBS = (
    "is",
    "was",
    "has",
    "had",
    "likes",
    "loves",
    "hates",
    "dislikes",
    "enjoys",
    "prefers",
    "works",
    "worked",
    "lives",
    "lived",
    "studies",
    "studied",
    "owns",
    "wants",
    "needs",
    "plays",
    "speaks",
    "grew up",
    "moved",
    "became",
    "adopted",
    "keeps",
    "believes",
    "fears",
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _pattern(names: Sequence[str]) -> re.Pattern[str] | None:
    names = [name.strip() for name in names if name and name.strip()]
    if not names:
        return None
    alternatives = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
    verbs = "|".join(re.escape(verb).replace(r"\ ", r"\s+") for verb in FACT_VERBS)
    # The possessive with a straight or a typographic apostrophe.
    return re.compile(rf"^(?:{alternatives})(?:['\u2019]s\s+\w|\s+(?:{verbs})\b)", re.IGNORECASE)


def notable_facts(
    texts_newest_first: Iterable[str], names: Sequence[str], limit: int = MAX_FACTS
) -> list[str]:
    """The facts the rule finds about the user called ``names`` in these memory texts."""
    pattern = _pattern(names)
    if pattern is None:
        return []
    facts: list[str] = []
    seen: set[str] = set()
    for text in texts_newest_first:
        for sentence in _SENTENCE_END.split(" ".join(text.split())):
            sentence = sentence.strip()
            if not (MIN_CHARS <= len(sentence) <= MAX_FACT_CHARS) or not pattern.match(sentence):
                continue
            key = sentence.casefold()
            if key in seen:
                continue
            seen.add(key)
            facts.append(sentence)
            if len(facts) >= limit:
                return facts
    return facts
