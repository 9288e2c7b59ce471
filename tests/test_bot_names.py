"""Finding the personalities a message addresses (``botclient.personalities.NameIndex``)."""

from __future__ import annotations

import pytest

from botclient.api import PersonalityInfo
from botclient.personalities import NameIndex, strip_code
from botclient.webhooks import TTLCache, webhook_username

INDEX = NameIndex(
    [
        PersonalityInfo("alice", "Alice", aliases=("Ali",)),
        PersonalityInfo("bob", "Bob", display_name="Bob the Builder"),
        PersonalityInfo("dr-jekyll", "Dr Jekyll", aliases=("Jekyll",)),
        PersonalityInfo("dr", "Dr"),
    ]
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@Alice hello", ["alice"]),
        ("hello @alice!", ["alice"]),
        ("ALICE, how are you?", ["alice"]),
        ("Alice: hi", ["alice"]),
        ("  alice what's up", ["alice"]),
        ("hi @Ali", ["alice"]),
        ("@Dr Jekyll are you there?", ["dr-jekyll"]),  # the longest name wins over "Dr"
        ("dr   jekyll, hello", ["dr-jekyll"]),  # multi-word, any spacing
        ("@Dr who?", ["dr"]),
        ("@Bob the Builder can we fix it?", ["bob"]),
        ("@Bob and @Alice, hi", ["bob", "alice"]),  # in order of appearance
        ("Alice, tell @Bob and @alice again", ["alice", "bob"]),  # each once
        ("hello there", []),
        ("I saw Alice yesterday", []),  # the name must be the first words, or @-mentioned
        ("Alice's cat is cute", []),
        ("write to bob@alice.com", []),
        ("@Alicea hi", []),  # not a whole name
        ("look: `@Alice` in code", []),
        ("```\n@Alice inside a block\n```", []),
        ("```py\nx = 1\n``` then @Bob", ["bob"]),
    ],
)
def test_names_found_in_a_message(text: str, expected: list[str]) -> None:
    assert INDEX.find(text) == expected


def test_lookup_by_any_name_ignores_case_and_at_sign() -> None:
    assert INDEX.lookup("@JEKYLL") == "dr-jekyll"
    assert INDEX.lookup("bob the builder") == "bob"
    assert INDEX.lookup("dr-jekyll") == "dr-jekyll"  # the slug too
    assert INDEX.lookup("nobody") is None


def test_empty_index_finds_nothing() -> None:
    assert NameIndex([]).find("@Alice hi") == []


def test_strip_code_keeps_positions() -> None:
    text = "a `b` ```c\nd``` e"
    stripped = strip_code(text)
    assert len(stripped) == len(text)
    assert stripped.startswith("a ") and stripped.endswith(" e") and "b" not in stripped


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Alice", "Alice"),
        ("Discord Dan", "D\u200biscord Dan"),
        ("my clyde and CLYDE", "my c\u200blyde and C\u200bLYDE"),
        ("   ", "Tzurot"),
        ("everyone", "e\u200bveryone"),
        ("x" * 100, "x" * 80),
        ("Multi\n  space", "Multi space"),
    ],
)
def test_webhook_usernames_are_made_valid(name: str, expected: str) -> None:
    assert webhook_username(name) == expected


def test_ttl_cache_expires_and_stays_bounded() -> None:
    now = [0.0]
    cache: TTLCache[int, str] = TTLCache(maxsize=2, ttl=10, clock=lambda: now[0])
    cache.set(1, "a")
    cache.set(2, "b")
    assert cache.get(1) == "a"  # 1 is now the most recently used
    cache.set(3, "c")  # evicts 2, the least recently used
    assert (cache.get(1), cache.get(2), cache.get(3)) == ("a", None, "c")
    now[0] = 11
    assert cache.get(1) is None and len(cache) == 1
