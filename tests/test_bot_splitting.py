"""Splitting replies into Discord-sized messages (``botclient.splitting``)."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botclient.splitting import split_message, split_parts

FENCE_OPEN = re.compile(r"```[A-Za-z0-9_+\-.#]*\n")


def test_short_text_is_one_message() -> None:
    assert split_message("Hello!") == ["Hello!"]
    assert split_message("") == []


def test_splits_at_paragraph_before_line_or_sentence() -> None:
    first = ("A sentence here. " * 60).strip()  # about 1000 characters
    second = "Line one.\nLine two. " + "word " * 200
    text = first + "\n\n" + second
    parts = split_message(text)
    assert parts[0] == first + "\n\n"
    assert "".join(parts) == text


def test_splits_at_line_then_sentence_then_word() -> None:
    lines = "\n".join(f"line {i} " + "x" * 30 for i in range(100))
    assert all(p.endswith("\n") for p in split_message(lines)[:-1])
    sentences = "This is a sentence, with words. " * 100
    assert all(p.endswith(". ") for p in split_message(sentences)[:-1])
    words = "word " * 1000
    parts = split_message(words)
    assert all(p.endswith(" ") and len(p) <= 2000 for p in parts)
    assert "".join(parts) == words


def test_a_word_longer_than_a_message_is_cut() -> None:
    parts = split_message("y" * 4500)
    assert [len(p) for p in parts] == [2000, 2000, 500]


def test_code_block_that_fits_is_kept_whole_in_the_next_message() -> None:
    code = "```python\n" + "print('hello')\n" * 100 + "```"
    text = "x" * 1500 + "\n" + code + "\nafter"
    parts = split_message(text)
    assert parts[0] == "x" * 1500 + "\n"
    assert parts[1].startswith(code)


def test_long_code_block_is_closed_and_reopened_with_its_language() -> None:
    code = "```js\n" + "".join(f"let v{i} = {i};\n" for i in range(400)) + "```"
    parts = split_parts("Look:\n\n" + code + "\n\nDone.")
    texts = [p.text for p in parts]
    assert all(len(t) <= 2000 for t in texts)
    middle = [p for p in parts if p.prefix]
    assert middle and all(p.prefix == "```js\n" for p in middle)
    assert all(t.count("```") % 2 == 0 for t in texts)  # every message renders its code as code
    assert "".join(p.body for p in parts) == "Look:\n\n" + code + "\n\nDone."


# -- property: for random texts with code blocks and long words --------------------------------------

# Sizes are drawn as numbers (repeat counts, lengths), so texts of many thousand
# characters are common rather than rare.
short_words = st.text(alphabet="abcdefghij", min_size=1, max_size=12)
long_words = st.integers(100, 4500).map(lambda n: "k" * n)
separators = st.sampled_from([" ", "\n", "\n\n", ". ", "! ", "? ", "\n\n\n"])
prose_run = st.builds(lambda w, sep, n: (w + sep) * n, short_words, separators, st.integers(1, 400))
prose = st.lists(st.one_of(prose_run, long_words, short_words, separators), min_size=1, max_size=6).map(
    "".join
)
code_line = st.one_of(
    st.text(alphabet="qrstuv =();", max_size=80), st.integers(0, 2600).map(lambda n: "w" * n)
)
code_block = st.builds(
    lambda lang, line, n, extra: f"```{lang}\n" + (line + "\n") * n + extra + "\n```",
    st.sampled_from(["", "python", "js", "c++"]),
    code_line,
    st.integers(0, 300),
    code_line,
)
texts = st.lists(st.one_of(prose, code_block), min_size=1, max_size=6).map("\n".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_every_chunk_fits_and_the_chunks_give_back_the_text(text: str) -> None:
    parts = split_parts(text)
    for part in parts:
        assert len(part.text) <= 2000
        assert part.body  # progress: no empty chunk
        assert part.prefix == "" or FENCE_OPEN.fullmatch(part.prefix)
        assert part.suffix in ("", "```", "\n```")
        assert part.text.count("```") % 2 == 0  # code renders as code in every message
    assert "".join(part.body for part in parts) == text  # nothing lost, nothing reordered
    # What is sent: every part that shows something; a part left out held only whitespace.
    assert split_message(text) == [p.text for p in parts if p.text.strip()]
    assert all(not p.body.strip() for p in parts if not p.text.strip())
