"""Chat histories from other apps: SillyTavern (.jsonl), SpicyChat (JSON) and our generic JSON.

Each reader turns a file into :class:`ChatMessage` s, checking structure as it
goes (a problem raises ``ImportFileError`` naming the file, the line or record
and the field). :func:`exchanges` then groups the messages into exchanges, the
unit a memory holds: the user's turn (one or more consecutive messages) and the
character's reply (one or more consecutive messages). The formats and the
grouping rule are documented in docs/ingestion.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from .files import (
    BOOLEAN,
    TEXT,
    ImportFileError,
    Record,
    describe,
    epoch_to_datetime,
    iter_json_lines,
    join_path,
    parse_json,
)

FORMATS = ("sillytavern", "spicychat", "generic")
GENERIC_FORMAT = "tzurot-chat-v1"
# An exchange longer than this (characters) is split at message boundaries.
MAX_EXCHANGE_CHARS = 3000


@dataclass
class ChatMessage:
    where: str  # "line 5" or "messages[3]"
    is_user: bool
    name: str
    text: str
    at: datetime | None
    id: str | None = None


@dataclass
class ChatFile:
    source: str
    format: str
    messages: list[ChatMessage]
    user_name: str = ""
    character_name: str = ""
    skipped: dict[str, int] = field(default_factory=dict)
    unreadable_times: int = 0

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


# --- Times -------------------------------------------------------------------------------------

# SillyTavern's human-readable dates ("June 9, 2023 10:03pm", "2023-06-09 @22h 03m 15s 123ms").
_HUMAN_FORMATS = ("%B %d, %Y %I:%M%p", "%B %d, %Y %I:%M %p", "%b %d, %Y %I:%M%p", "%Y-%m-%d %H:%M:%S")
_ST_STAMP = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})\s*@(\d{1,2})h\s*(\d{1,2})m\s*(\d{1,2})s(?:\s*(\d{1,3})ms)?$"
)


def parse_time(value: Any) -> datetime | None:
    """A message time: epoch seconds or milliseconds, ISO 8601, or SillyTavern's forms; None if unreadable.

    Times without a zone are taken as UTC.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        try:
            return epoch_to_datetime(float(value))
        except ValueError:
            return None
    text = str(value).strip()
    if not text:
        return None
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return parse_time(float(text))
    moment: datetime | None = None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        match = _ST_STAMP.match(text)
        if match:
            year, month, day, hour, minute, second, millis = (int(part or 0) for part in match.groups())
            try:
                moment = datetime(year, month, day, hour, minute, second, millis * 1000)
            except ValueError:
                return None
        else:
            for pattern in _HUMAN_FORMATS:
                try:
                    moment = datetime.strptime(text.upper() if "%p" in pattern else text, pattern)
                    break
                except ValueError:
                    continue
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- SillyTavern ---------------------------------------------------------------------------------


def read_sillytavern(content: bytes, *, source: str) -> ChatFile:
    """A SillyTavern chat file: a metadata line (``user_name``, ``character_name``…), then messages."""
    chat = ChatFile(source=source, format="sillytavern", messages=[])
    for number, value in iter_json_lines(content, source=source):
        where = f"line {number}"
        if not isinstance(value, dict):
            raise ImportFileError(
                source, f"each line must be a JSON object, not {describe(value)}", line=number
            )
        record = Record(source, "", value)
        if "mes" not in value and not chat.messages and ("user_name" in value or "character_name" in value):
            chat.user_name = _line_get(record, number, "user_name", TEXT) or ""
            chat.character_name = _line_get(record, number, "character_name", TEXT) or ""
            continue
        text = _line_get(record, number, "mes", TEXT, required=True)
        is_user = _line_get(record, number, "is_user", BOOLEAN, required=True)
        name = _line_get(record, number, "name", TEXT, required=True)
        if _line_get(record, number, "is_system", BOOLEAN):
            chat.skip("system message")
            continue
        raw_time = value.get("send_date")
        if raw_time is not None and (
            isinstance(raw_time, bool) or not isinstance(raw_time, str | int | float)
        ):
            raise ImportFileError(
                source,
                f"must be a time (text or a number), not {describe(raw_time)}",
                line=number,
                path="send_date",
            )
        at = parse_time(raw_time)
        if raw_time not in (None, "") and at is None:
            chat.unreadable_times += 1
        chat.messages.append(ChatMessage(where=where, is_user=is_user, name=name.strip(), text=text, at=at))
    if not chat.messages and not chat.skipped:
        raise ImportFileError(source, "no messages in this chat file")
    return chat


def _line_get(record: Record, number: int, key: str, kind: str, *, required: bool = False) -> Any:
    try:
        return record.get(key, kind, required=required)
    except ImportFileError as exc:
        raise ImportFileError(exc.source, exc.message, line=number, path=exc.path) from None


# --- SpicyChat and the generic format --------------------------------------------------------------

# SpicyChat has no documented export; these are the spellings we accept (docs/ingestion.md).
SPICY_ROLE_KEYS = ("role", "type", "sender")
SPICY_TEXT_KEYS = ("content", "message", "text")
SPICY_TIME_KEYS = ("createdAt", "created_at", "timestamp", "date")
SPICY_USER_ROLES = ("user", "human", "you")
SPICY_CHAR_ROLES = ("bot", "char", "character", "assistant", "ai", "model")


def _spicy_messages(document: Any, source: str) -> tuple[list[Any], str]:
    if isinstance(document, list):
        return document, ""
    if isinstance(document, dict):
        for path in ("messages", "conversation.messages", "chat.messages"):
            node: Any = document
            for part in path.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, list):
                return node, path
    raise ImportFileError(
        source,
        "no list of messages found (expected a list, or 'messages', "
        "'conversation.messages' or 'chat.messages')",
    )


def _first_key(record: Record, keys: Sequence[str]) -> str | None:
    return next((key for key in keys if record.value.get(key) is not None), None)


def read_spicychat(document: Any, *, source: str) -> ChatFile:
    records, base = _spicy_messages(document, source)
    chat = ChatFile(source=source, format="spicychat", messages=[])
    if isinstance(document, dict):
        character = document.get("character")
        if isinstance(character, dict) and isinstance(character.get("name"), str):
            chat.character_name = character["name"]
        elif isinstance(document.get("character_name"), str):
            chat.character_name = document["character_name"]
        if isinstance(document.get("user_name"), str):
            chat.user_name = document["user_name"]
    for index, raw in enumerate(records):
        record = Record.of(raw, source=source, path=join_path(base, index), what="message")
        role_key = _first_key(record, SPICY_ROLE_KEYS)
        text_key = _first_key(record, SPICY_TEXT_KEYS)
        if role_key is None:
            raise ImportFileError(source, "required, and missing", path=join_path(record.path, "role"))
        if text_key is None:
            raise ImportFileError(source, "required, and missing", path=join_path(record.path, "content"))
        role = record.get(role_key, TEXT, required=True).strip().lower()
        text = record.get(text_key, TEXT, required=True)
        if role in SPICY_USER_ROLES:
            is_user = True
        elif role in SPICY_CHAR_ROLES:
            is_user = False
        elif role == "system":
            chat.skip("system message")
            continue
        else:
            raise ImportFileError(
                source,
                f"unknown role {role!r}; expected one of {', '.join(SPICY_USER_ROLES + SPICY_CHAR_ROLES)}",
                path=join_path(record.path, role_key),
            )
        chat.messages.append(_message(chat, record, is_user, text, _first_key(record, SPICY_TIME_KEYS)))
    return chat


def read_generic(document: Any, *, source: str) -> ChatFile:
    """Our documented format: ``{"format": "tzurot-chat-v1", "messages": [{"role", "content", …}]}``."""
    top = Record.of(document, source=source, path="", what="chat file")
    chat = ChatFile(
        source=source,
        format="generic",
        messages=[],
        user_name=top.get("user_name", TEXT, default=""),
        character_name=top.get("character_name", TEXT, default=""),
    )
    records = top.value.get("messages")
    if records is None:
        raise ImportFileError(source, "required, and missing", path="messages")
    if not isinstance(records, list):
        raise ImportFileError(source, f"must be a list, not {describe(records)}", path="messages")
    for index, raw in enumerate(records):
        record = Record.of(raw, source=source, path=join_path("messages", index), what="message")
        role = record.get("role", TEXT, required=True)
        if role not in ("user", "character"):
            raise ImportFileError(
                source, f"must be 'user' or 'character', not {role!r}", path=join_path(record.path, "role")
            )
        text = record.get("content", TEXT, required=True)
        chat.messages.append(
            _message(chat, record, role == "user", text, "timestamp" if "timestamp" in record.value else None)
        )
    return chat


def _message(chat: ChatFile, record: Record, is_user: bool, text: str, time_key: str | None) -> ChatMessage:
    raw_time = record.value.get(time_key) if time_key else None
    if raw_time is not None and (isinstance(raw_time, bool) or not isinstance(raw_time, str | int | float)):
        raise ImportFileError(
            chat.source,
            f"must be a time (text or a number), not {describe(raw_time)}",
            path=join_path(record.path, time_key or "timestamp"),
        )
    at = parse_time(raw_time)
    if raw_time not in (None, "") and at is None:
        chat.unreadable_times += 1
    name = record.get("name", TEXT, default="")
    raw_id = record.value.get("id")
    message_id = str(raw_id) if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else None
    return ChatMessage(where=record.path, is_user=is_user, name=name.strip(), text=text, at=at, id=message_id)


def read_chat(name: str, content: bytes, *, source: str, format: str = "auto") -> ChatFile:
    """Read a chat file in ``format`` (``auto``: by its name and content)."""
    if format not in ("auto", *FORMATS):
        raise ImportFileError(source, f"unknown format {format!r}; use auto, {', '.join(FORMATS)}")
    if format == "sillytavern" or (format == "auto" and PurePosixPath(name).suffix.lower() == ".jsonl"):
        return read_sillytavern(content, source=source)
    try:
        document = parse_json(content, source=source)
    except ImportFileError as exc:
        # A .json file holding JSON Lines (a renamed SillyTavern file).
        if format == "auto" and exc.line is not None and exc.message.startswith("invalid JSON: Extra data"):
            return read_sillytavern(content, source=source)
        raise
    if format == "generic" or (isinstance(document, dict) and document.get("format") == GENERIC_FORMAT):
        return read_generic(document, source=source)
    if format == "auto" and isinstance(document, dict) and "format" in document:
        raise ImportFileError(
            source,
            f"unknown format {document['format']!r}; the generic format is '{GENERIC_FORMAT}'",
            path="format",
        )
    return read_spicychat(document, source=source)


# --- Exchanges -----------------------------------------------------------------------------------


@dataclass
class Exchange:
    messages: list[ChatMessage]
    text: str

    @property
    def at(self) -> datetime | None:
        return next((message.at for message in self.messages if message.at is not None), None)

    @property
    def span(self) -> str:
        first, last = self.messages[0].where, self.messages[-1].where
        return first if first == last else f"{first}..{last}"


def exchanges(chat: ChatFile, *, user_name: str, character_name: str) -> list[Exchange]:
    """Group messages into exchanges: a user turn and the character's reply.

    Consecutive messages of one side belong to the same turn; an exchange ends
    when the user speaks again after the character. A reply with no user turn
    before it (a greeting) or a user turn with no reply (the end of the chat)
    is an exchange of its own. Empty messages are left out. Each message is a
    line ``Name: text``; an exchange longer than ``MAX_EXCHANGE_CHARS`` is split
    at message boundaries.
    """
    groups: list[list[ChatMessage]] = []
    current: list[ChatMessage] = []
    for message in chat.messages:
        if not message.text.strip():
            chat.skip("empty message")
            continue
        if current and message.is_user and not current[-1].is_user:
            groups.append(current)
            current = []
        current.append(message)
    if current:
        groups.append(current)
    result: list[Exchange] = []
    for group in groups:
        part: list[ChatMessage] = []
        size = 0
        for message in group:
            line = _line(message, user_name=user_name, character_name=character_name)
            if part and size + len(line) > MAX_EXCHANGE_CHARS:
                result.append(_exchange(part, user_name, character_name))
                part, size = [], 0
            part.append(message)
            size += len(line) + 1
        if part:
            result.append(_exchange(part, user_name, character_name))
    return result


def _line(message: ChatMessage, *, user_name: str, character_name: str) -> str:
    name = message.name or (user_name if message.is_user else character_name)
    return f"{name}: {message.text.strip()}"


def _exchange(messages: list[ChatMessage], user_name: str, character_name: str) -> Exchange:
    text = "\n".join(_line(m, user_name=user_name, character_name=character_name) for m in messages)
    return Exchange(messages=list(messages), text=text)


def origin_data(chat: ChatFile, exchange: Exchange) -> dict[str, Any]:
    """What is kept of an exchange's source beside its memory."""
    data: dict[str, Any] = {
        "file": PurePosixPath(chat.source).name,
        "messages": exchange.span,
        "names": sorted({m.name for m in exchange.messages if m.name}),
    }
    ids = [m.id for m in exchange.messages if m.id]
    if ids:
        data["ids"] = ids
    times = [m.at.isoformat() for m in exchange.messages if m.at is not None]
    if times:
        data["first_at"], data["last_at"] = times[0], times[-1]
    return data
