"""Reading import files: folders and archives, JSON with positions, one error type.

Nothing here writes anything. Every problem is an :class:`ImportFileError`
whose message names the file, the position (line and column for a JSON syntax
error, the line of a JSON Lines file, or the record's JSON path such as
``[12].metadata.start_ts``) and the field, so that the person importing can
find and fix it.
"""

from __future__ import annotations

import json
import posixpath
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# A backup's biggest file is its memories: ~1 KB each, so this allows ~500k of them.
MAX_MEMBER_BYTES = 512 * 1024 * 1024
MAX_TOTAL_BYTES = 2 * 1024 * 1024 * 1024
MAX_MEMBERS = 10_000
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")


class ImportFileError(Exception):
    """A file that cannot be imported; nothing was written.

    ``str()`` reads ``<file>: <position>: <field>: <problem>`` with the parts
    that apply.
    """

    def __init__(
        self,
        source: str,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.source = source
        self.message = message
        self.path = path
        self.line = line
        self.column = column
        where: list[str] = []
        if line is not None:
            where.append(f"line {line}" + (f", column {column}" if column is not None else ""))
        if path:
            where.append(path)
        super().__init__(": ".join([source, *where, message]))

    @property
    def field(self) -> str | None:
        """The field named by the path (its last part), if any."""
        if not self.path:
            return None
        last = self.path.rsplit(".", 1)[-1]
        return last.split("[", 1)[0] or None


def parse_json(content: bytes, *, source: str) -> Any:
    """JSON from bytes; a syntax error names its line and column."""
    text = decode(content, source=source)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(source, f"invalid JSON: {exc.msg}", line=exc.lineno, column=exc.colno) from None


def decode(content: bytes, *, source: str) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(source, f"not UTF-8 text (byte {exc.start})") from None


def iter_json_lines(content: bytes, *, source: str) -> Iterator[tuple[int, Any]]:
    """(line number, value) of each non-blank line of a JSON Lines file."""
    for number, line in enumerate(decode(content, source=source).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise ImportFileError(source, f"invalid JSON: {exc.msg}", line=number, column=exc.colno) from None


# --- Checking the structure of decoded JSON -----------------------------------------------

TEXT = "text"
NUMBER = "number"
INTEGER = "whole number"
BOOLEAN = "true or false"
OBJECT = "a JSON object"
LIST = "a list"
TEXT_LIST = "a list of text"

_TYPE_NAMES = {
    str: "text",
    bool: "true/false",
    int: "a number",
    float: "a number",
    list: "a list",
    dict: "an object",
    type(None): "null",
}


def describe(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def is_kind(kind: str, value: Any) -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return {
        TEXT: isinstance(value, str),
        NUMBER: number,
        INTEGER: number and float(value).is_integer(),
        BOOLEAN: isinstance(value, bool),
        OBJECT: isinstance(value, dict),
        LIST: isinstance(value, list),
        TEXT_LIST: isinstance(value, list) and all(isinstance(item, str) for item in value),
    }[kind]


def join_path(base: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{base}[{key}]"
    return f"{base}.{key}" if base else key


@dataclass
class Record:
    """A JSON object being checked, with where it is (for error messages)."""

    source: str
    path: str
    value: dict[str, Any]

    @classmethod
    def of(cls, value: Any, *, source: str, path: str, what: str = "record") -> Record:
        if not isinstance(value, dict):
            raise ImportFileError(
                source, f"each {what} must be a JSON object, not {describe(value)}", path=path
            )
        return cls(source, path, value)

    def get(self, key: str, kind: str, *, required: bool = False, default: Any = None) -> Any:
        """The value of ``key`` if it is of ``kind``; null or absent: ``default``, or an error if required."""
        value = self.value.get(key)
        where = join_path(self.path, key)
        if value is None:
            if required:
                raise ImportFileError(self.source, "required, and missing", path=where)
            return default
        if kind == TEXT_LIST and isinstance(value, list):
            for index, item in enumerate(value):
                if not isinstance(item, str):
                    raise ImportFileError(
                        self.source, f"must be text, not {describe(item)}", path=join_path(where, index)
                    )
        if not is_kind(kind, value):
            raise ImportFileError(self.source, f"must be {kind}, not {describe(value)}", path=where)
        return value

    def child(self, key: str) -> Record | None:
        value = self.value.get(key)
        if value is None:
            return None
        return Record.of(value, source=self.source, path=join_path(self.path, key), what="value")


def epoch_to_datetime(value: float) -> datetime:
    """A Unix time in seconds (or milliseconds, when too large for seconds) as an aware datetime.

    Raises ``ValueError`` for times before 1970 or after 9999.
    """
    seconds = value / 1000 if abs(value) > 100_000_000_000 else value
    if seconds < 0:
        raise ValueError("a time before 1970")
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError("a time out of range") from None


# --- Folders and archives --------------------------------------------------------------------


@dataclass(frozen=True)
class Bundle:
    """The files of an import: name inside the folder or archive → bytes.

    ``origin`` is the folder or archive, as shown in messages; a member's
    source is ``origin/name``.
    """

    origin: str
    files: dict[str, bytes]

    def source(self, name: str) -> str:
        return f"{self.origin}/{name}"


def _skip(name: str) -> bool:
    parts = name.split("/")
    return any(part.startswith("__MACOSX") for part in parts) or parts[-1].startswith("._")


def _check_sizes(origin: str, sizes: list[tuple[str, int]]) -> None:
    if len(sizes) > MAX_MEMBERS:
        raise ImportFileError(origin, f"more than {MAX_MEMBERS} files")
    for name, size in sizes:
        if size > MAX_MEMBER_BYTES:
            raise ImportFileError(origin, f"{name} is larger than {MAX_MEMBER_BYTES // 2**20} MB")
    if sum(size for _, size in sizes) > MAX_TOTAL_BYTES:
        raise ImportFileError(origin, f"larger than {MAX_TOTAL_BYTES // 2**30} GB unpacked")


def read_bundle(path: Path, *, suffixes: tuple[str, ...] = (".json", ".jsonl")) -> Bundle:
    """The files (with these suffixes) of a folder, its sub-folders, or a .zip/.tar.gz/.tgz/.tar archive.

    Archives are read in memory, never unpacked to disk, so member names cannot
    escape anywhere. Names are relative, with ``/``.
    """
    origin = str(path)
    if not path.exists():
        raise ImportFileError(origin, "no such file or folder")
    wanted = tuple(suffix.lower() for suffix in suffixes)
    if path.is_dir():
        members = sorted(p for p in path.rglob("*") if p.is_file())
        picked = [
            (p.relative_to(path).as_posix(), p)
            for p in members
            if p.name.lower().endswith(wanted) and not _skip(p.relative_to(path).as_posix())
        ]
        _check_sizes(origin, [(name, p.stat().st_size) for name, p in picked])
        try:
            return Bundle(origin, {name: p.read_bytes() for name, p in picked})
        except OSError as exc:
            raise ImportFileError(origin, f"cannot be read ({exc.strerror})") from None
    lowered = path.name.lower()
    if lowered.endswith(".zip"):
        return _read_zip(path, origin, wanted)
    if lowered.endswith((".tar.gz", ".tgz", ".tar")):
        return _read_tar(path, origin, wanted)
    if lowered.endswith(wanted):
        try:
            return Bundle(str(path.parent), {path.name: path.read_bytes()})
        except OSError as exc:
            raise ImportFileError(origin, f"cannot be read ({exc.strerror})") from None
    raise ImportFileError(origin, f"not a folder, a {', '.join(ARCHIVE_SUFFIXES)} archive or a JSON file")


def _clean_name(name: str) -> str | None:
    normalized = posixpath.normpath(name.replace("\\", "/")).lstrip("/")
    if normalized.startswith("..") or normalized in ("", "."):
        return None
    return normalized


def _read_zip(path: Path, origin: str, wanted: tuple[str, ...]) -> Bundle:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise ImportFileError(origin, "not a readable .zip archive") from None
    with archive:
        infos = []
        for info in archive.infolist():
            name = _clean_name(info.filename)
            if info.is_dir() or name is None or _skip(name) or not name.lower().endswith(wanted):
                continue
            infos.append((name, info))
        _check_sizes(origin, [(name, info.file_size) for name, info in infos])
        try:
            return Bundle(origin, {name: archive.read(info) for name, info in infos})
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ImportFileError(origin, f"a damaged .zip archive ({exc})") from None


def _read_tar(path: Path, origin: str, wanted: tuple[str, ...]) -> Bundle:
    try:
        archive = tarfile.open(path)  # noqa: SIM115 - closed below
    except (tarfile.TarError, OSError):
        raise ImportFileError(origin, "not a readable .tar/.tar.gz archive") from None
    files: dict[str, bytes] = {}
    sizes: list[tuple[str, int]] = []
    try:
        with archive:
            for member in archive:
                name = _clean_name(member.name)
                if not member.isfile() or name is None or _skip(name) or not name.lower().endswith(wanted):
                    continue
                sizes.append((name, member.size))
                _check_sizes(origin, sizes)
                handle = archive.extractfile(member)
                if handle is not None:
                    files[name] = handle.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ImportFileError(origin, f"a damaged archive ({exc})") from None
    return Bundle(origin, files)
