"""Personalities in and out of files: our JSON format, Character Card V2 (JSON and PNG), archives.

Everything that turns bytes into a validated :class:`PersonalitySpec` lives here,
so that ``loadpersonalities``, the admin's import view and card import follow
the same rules and give the same error messages. Nothing here writes to the
database: ``services.personalities_upsert`` does, after *every* input is valid.

The formats are documented in ``docs/personalities.md``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import posixpath
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.text import slugify
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from .avatar_art import placeholder_avatar
from .models import Personality
from .validators import AVATAR_FORMATS, MAX_AVATAR_BYTES

# --- Our JSON format -------------------------------------------------------------

# Every key of a personality file, in the order files are written. `avatar_file`
# is not a model field: it names an image beside the JSON file, stored into
# `Personality.avatar_image` by the loader.
TEXT = "text"
TEXT_LIST = "list of text"
NUMBER_OR_NULL = "number or null"
INTEGER_OR_NULL = "whole number or null"
INTEGER = "whole number"
NUMBER = "number"
BOOLEAN = "boolean"
OBJECT = "object"

FORMAT: dict[str, str] = {
    "slug": TEXT,
    "name": TEXT,
    "display_name": TEXT,
    "aliases": TEXT_LIST,
    "avatar_url": TEXT,
    "avatar_file": TEXT,
    "system_prompt": TEXT,
    "character_info": TEXT,
    "traits": TEXT,
    "tone": TEXT,
    "scenario": TEXT,
    "likes": TEXT,
    "dislikes": TEXT,
    "example_dialogue": TEXT,
    "greeting": TEXT,
    "error_message": TEXT,
    "model": TEXT,
    "temperature": NUMBER_OR_NULL,
    "max_output_tokens": INTEGER_OR_NULL,
    "memory_enabled": BOOLEAN,
    "memory_scope": TEXT,
    "memory_top_k": INTEGER,
    "memory_threshold": NUMBER,
    "is_active": BOOLEAN,
    "is_public": BOOLEAN,
    "owner_user_id": TEXT,
    "extensions": OBJECT,
}
REQUIRED = ("slug", "name")
# The model fields a file sets (everything but the avatar image, handled apart).
MODEL_FIELDS = tuple(name for name in FORMAT if name != "avatar_file")

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_ARCHIVE_MEMBER_BYTES = 8 * 1024 * 1024


class PersonalityFileError(Exception):
    """A file that cannot be loaded; ``str()`` names the file, the field and the problem."""

    def __init__(
        self,
        source: str,
        message: str,
        *,
        field: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.source = source
        self.field = field
        self.message = message
        self.line = line
        self.column = column
        where = ""
        if line is not None:
            where = f"line {line}, column {column}: "
        elif field:
            where = f"field '{field}': "
        super().__init__(f"{source}: {where}{message}")


@dataclass(frozen=True)
class Avatar:
    """An avatar image, already checked to be a usable image."""

    content: bytes
    extension: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    def storage_name(self, slug: str) -> str:
        # Named by content: a changed image gets a new URL, which Discord's
        # avatar cache needs, and an unchanged one keeps its URL.
        return f"avatars/{slug}-{self.digest[:12]}.{self.extension}"


@dataclass(frozen=True)
class PersonalitySpec:
    """One validated personality, ready to be written."""

    source: str
    values: dict[str, Any]
    avatar: Avatar | None
    # Fields an update leaves as they are (cards do not carry deployment state).
    keep_on_update: frozenset[str] = field(default_factory=frozenset)

    @property
    def slug(self) -> str:
        return str(self.values["slug"])


def _type_ok(kind: str, value: Any) -> bool:
    if kind == TEXT:
        return isinstance(value, str)
    if kind == TEXT_LIST:
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    if kind == BOOLEAN:
        return isinstance(value, bool)
    if kind == OBJECT:
        return isinstance(value, dict)
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == NUMBER:
        return is_number
    if kind == NUMBER_OR_NULL:
        return value is None or is_number
    if kind == INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == INTEGER_OR_NULL:
        return value is None or (isinstance(value, int) and not isinstance(value, bool))
    raise AssertionError(kind)


_TYPE_MESSAGES = {
    TEXT: "must be text (a JSON string)",
    TEXT_LIST: "must be a list of text",
    NUMBER_OR_NULL: "must be a number or null",
    INTEGER_OR_NULL: "must be a whole number or null",
    INTEGER: "must be a whole number",
    NUMBER: "must be a number",
    BOOLEAN: "must be true or false",
    OBJECT: "must be a JSON object",
}


def _type_message(kind: str) -> str:
    return _TYPE_MESSAGES[kind]


def load_avatar(content: bytes, *, source: str, field: str) -> Avatar:
    """Check that ``content`` is an image Discord can show as an avatar."""
    if len(content) > MAX_AVATAR_BYTES:
        raise PersonalityFileError(
            source, f"the image is {len(content) // 1024} KB; at most 4 MB, please", field=field
        )
    try:
        with Image.open(io.BytesIO(content)) as image:
            image_format = image.format or ""
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise PersonalityFileError(source, f"not a readable image ({exc})", field=field) from None
    extension = AVATAR_FORMATS.get(image_format)
    if extension is None:
        raise PersonalityFileError(
            source, f"a {image_format or 'unknown'} image; use PNG, JPEG, GIF or WebP", field=field
        )
    return Avatar(content=content, extension=extension)


def _first_error(error: ValidationError, names: dict[str, str]) -> tuple[str | None, str]:
    messages = error.message_dict
    for key in (*FORMAT, NON_FIELD_ERRORS, *messages):
        if key in messages:
            field = None if key == NON_FIELD_ERRORS else names.get(key, key)
            return field, " ".join(messages[key])
    return None, "; ".join(error.messages)


def document_to_spec(
    document: Any,
    *,
    source: str,
    read_file: Callable[[str], bytes] | None,
    names: dict[str, str] | None = None,
    avatar: Avatar | None = None,
    keep_on_update: Iterable[str] = (),
) -> PersonalitySpec:
    """Validate one personality object of our format.

    ``read_file`` resolves ``avatar_file`` (a path relative to the document);
    None where there is nothing beside the document (a single uploaded file).
    ``names`` renames fields in error messages (card import reports card
    fields); ``avatar`` is an image that came with the document (a PNG card).
    """
    names = names or {}
    if not isinstance(document, dict):
        raise PersonalityFileError(source, "the file must hold one JSON object (a personality)")
    for key in document:
        if key not in FORMAT:
            raise PersonalityFileError(source, "unknown field (a typo?)", field=names.get(key, key))
    for key in REQUIRED:
        if key not in document:
            raise PersonalityFileError(source, "required, and missing", field=names.get(key, key))
    for key, value in document.items():
        if not _type_ok(FORMAT[key], value):
            raise PersonalityFileError(source, _type_message(FORMAT[key]), field=names.get(key, key))

    avatar_file = document.get("avatar_file") or ""
    if avatar_file and document.get("avatar_url"):
        raise PersonalityFileError(
            source, "give avatar_url or avatar_file, not both", field=names.get("avatar_file", "avatar_file")
        )
    if avatar_file:
        avatar = _read_avatar_file(avatar_file, source=source, read_file=read_file)

    values = {name: Personality._meta.get_field(name).get_default() for name in MODEL_FIELDS}
    values.update({key: value for key, value in document.items() if key != "avatar_file"})
    if avatar is not None:
        values["avatar_url"] = ""
    instance = Personality(**values)
    try:
        # The avatar image is checked above (by its bytes); slugs are unique by
        # construction (an upsert by slug).
        instance.full_clean(exclude=["avatar_image"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        field_name, message = _first_error(exc, names)
        raise PersonalityFileError(source, message, field=field_name) from None
    cleaned = {name: getattr(instance, name) for name in MODEL_FIELDS}
    return PersonalitySpec(
        source=source, values=cleaned, avatar=avatar, keep_on_update=frozenset(keep_on_update)
    )


def _read_avatar_file(relative: str, *, source: str, read_file: Callable[[str], bytes] | None) -> Avatar:
    normalized = posixpath.normpath(relative.replace("\\", "/"))
    if relative.startswith("/") or normalized.startswith(".."):
        raise PersonalityFileError(
            source, "must be a path relative to the JSON file, inside its folder", field="avatar_file"
        )
    if read_file is None:
        raise PersonalityFileError(
            source,
            "names an image that was not uploaded with this file; upload the .zip export, or use avatar_url",
            field="avatar_file",
        )
    try:
        content = read_file(normalized)
    except (OSError, KeyError):
        raise PersonalityFileError(source, f"no such image: {relative}", field="avatar_file") from None
    return load_avatar(content, source=source, field="avatar_file")


def parse_json(content: bytes, *, source: str) -> Any:
    """JSON from bytes; a syntax error names its line and column."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PersonalityFileError(source, f"not UTF-8 text (byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PersonalityFileError(
            source, f"invalid JSON: {exc.msg}", line=exc.lineno, column=exc.colno
        ) from None


def is_card(document: Any) -> bool:
    return isinstance(document, dict) and "spec" in document


def json_to_spec(content: bytes, *, source: str, read_file: Callable[[str], bytes] | None) -> PersonalitySpec:
    """A JSON file: a Character Card V2 when it says so, else our format."""
    document = parse_json(content, source=source)
    if is_card(document):
        return card_to_spec(document, source=source)
    if isinstance(document, dict) and "first_mes" in document and "slug" not in document:
        raise PersonalityFileError(
            source, "this looks like a V1 character card; only Character Card V2 is supported"
        )
    return document_to_spec(document, source=source, read_file=read_file)


# --- Character Card V2 ----------------------------------------------------------

CARD_SPEC = "chara_card_v2"
CARD_SPEC_VERSION = "2.0"
# Card field -> Personality field.
CARD_MAPPED = {
    "name": "name",
    "description": "character_info",
    "personality": "traits",
    "scenario": "scenario",
    "first_mes": "greeting",
    "mes_example": "example_dialogue",
    "system_prompt": "system_prompt",
}
# The other fields of the V2 spec, with the value a card has when it says nothing;
# they are kept in Personality.extensions["chara_card_v2"].
CARD_UNMAPPED_DEFAULTS: dict[str, Any] = {
    "creator_notes": "",
    "post_history_instructions": "",
    "alternate_greetings": [],
    "tags": [],
    "creator": "",
    "character_version": "",
    "extensions": {},
}
CARD_FIELD_ORDER = (
    "name",
    "description",
    "personality",
    "scenario",
    "first_mes",
    "mes_example",
    "creator_notes",
    "system_prompt",
    "post_history_instructions",
    "alternate_greetings",
    "character_book",
    "tags",
    "creator",
    "character_version",
    "extensions",
)
CARD_KINDS = {
    **dict.fromkeys(CARD_MAPPED, TEXT),
    "creator_notes": TEXT,
    "post_history_instructions": TEXT,
    "creator": TEXT,
    "character_version": TEXT,
    "alternate_greetings": TEXT_LIST,
    "tags": TEXT_LIST,
    "extensions": OBJECT,
}
# Where a personality keeps what a card has and our fields do not.
CARD_EXTENSIONS_KEY = "chara_card_v2"
# Our fields with no place in a card travel in data.extensions.tzurot (only
# those that differ from what an import without them would give), so a card we
# export comes back as the same personality.
TZUROT_KEY = "tzurot"
TZUROT_CARD_FIELDS = (
    "slug",
    "display_name",
    "aliases",
    "avatar_url",
    "tone",
    "likes",
    "dislikes",
    "error_message",
    "model",
    "temperature",
    "max_output_tokens",
    "memory_enabled",
    "memory_scope",
    "memory_top_k",
    "memory_threshold",
    "extensions",
)
# Deployment state, not part of a character: a card import never changes it on
# an existing personality (a private character stays private).
DEPLOYMENT_FIELDS = ("is_active", "is_public", "owner_user_id")


def slug_for_name(name: str) -> str:
    """The slug a card's character gets when its card names none."""
    slug = slugify(name)[:64].strip("-")
    if not slug:
        slug = "character-" + hashlib.sha256(name.encode()).hexdigest()[:8]
    return slug


def card_to_spec(card: Any, *, source: str, avatar: Avatar | None = None) -> PersonalitySpec:
    """Validate a Character Card V2 and map it onto a personality (see docs/personalities.md)."""
    if not isinstance(card, dict):
        raise PersonalityFileError(source, "a character card must be a JSON object")
    if card.get("spec") != CARD_SPEC:
        raise PersonalityFileError(
            source, f"unsupported card spec {card.get('spec')!r}; only '{CARD_SPEC}' is read", field="spec"
        )
    version = card.get("spec_version")
    if not isinstance(version, str) or not version.startswith("2."):
        raise PersonalityFileError(source, "must be '2.0' for a V2 card", field="spec_version")
    data = card.get("data")
    if not isinstance(data, dict):
        raise PersonalityFileError(source, "must be a JSON object", field="data")
    if "name" not in data:
        raise PersonalityFileError(source, "required, and missing", field="data.name")
    for key, kind in CARD_KINDS.items():
        if key in data and not _type_ok(kind, data[key]):
            raise PersonalityFileError(source, _type_message(kind), field=f"data.{key}")
    if data.get("character_book") is not None and not isinstance(data["character_book"], dict):
        raise PersonalityFileError(source, "must be a JSON object", field="data.character_book")

    card_extensions = dict(data.get("extensions") or {})
    ours = card_extensions.pop(TZUROT_KEY, {})
    # What the card has beyond our fields, minus the values an export writes
    # anyway (so a personality that goes out as a card comes back unchanged).
    leftover = {
        key: card_extensions if key == "extensions" else value
        for key, value in data.items()
        if key not in CARD_MAPPED
    }
    leftover = {
        key: value
        for key, value in leftover.items()
        if not (key in CARD_UNMAPPED_DEFAULTS and value == CARD_UNMAPPED_DEFAULTS[key])
    }
    if not isinstance(ours, dict):
        raise PersonalityFileError(source, "must be a JSON object", field=f"data.extensions.{TZUROT_KEY}")
    for key in ours:
        if key not in TZUROT_CARD_FIELDS:
            raise PersonalityFileError(source, "unknown field", field=f"data.extensions.{TZUROT_KEY}.{key}")

    document: dict[str, Any] = {
        ours_field: data[card_field] for card_field, ours_field in CARD_MAPPED.items() if card_field in data
    }
    document.update(ours)
    document.setdefault("slug", slug_for_name(data["name"]))
    other_extensions = ours.get("extensions", {})
    if isinstance(other_extensions, dict):
        document["extensions"] = dict(other_extensions)
        if leftover:
            document["extensions"][CARD_EXTENSIONS_KEY] = leftover
    if avatar is not None:
        document.pop("avatar_url", None)

    names = {ours_field: f"data.{card_field}" for card_field, ours_field in CARD_MAPPED.items()}
    names.update({key: f"data.extensions.{TZUROT_KEY}.{key}" for key in ours})
    return document_to_spec(
        document,
        source=source,
        read_file=None,
        names=names,
        avatar=avatar,
        keep_on_update=DEPLOYMENT_FIELDS,
    )


def personality_to_card(personality: Personality) -> dict[str, Any]:
    """A Character Card V2 (JSON-ready) of a personality; the inverse of :func:`card_to_spec`."""
    extensions = dict(personality.extensions or {})
    kept = extensions.pop(CARD_EXTENSIONS_KEY, {})
    kept = kept if isinstance(kept, dict) else {}
    values = {**CARD_UNMAPPED_DEFAULTS, **kept}
    for card_field, ours_field in CARD_MAPPED.items():
        values[card_field] = getattr(personality, ours_field)
    card_extensions = dict(values.get("extensions") or {})
    ours: dict[str, Any] = {}
    for name in TZUROT_CARD_FIELDS:
        if name == "slug":
            default: Any = slug_for_name(personality.name)
            value: Any = personality.slug
        elif name == "extensions":
            default, value = {}, extensions
        else:
            default = Personality._meta.get_field(name).get_default()
            value = getattr(personality, name)
        if value != default:
            ours[name] = value
    if ours:
        card_extensions[TZUROT_KEY] = ours
    values["extensions"] = card_extensions
    data = {key: values[key] for key in CARD_FIELD_ORDER if key in values}
    data.update({key: value for key, value in values.items() if key not in data})
    return {"spec": CARD_SPEC, "spec_version": CARD_SPEC_VERSION, "data": data}


CARD_CHUNK_KEYWORD = "chara"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_card_to_spec(content: bytes, *, source: str) -> PersonalitySpec:
    """A PNG character card: the card is base64 JSON in the ``chara`` tEXt chunk, the image the avatar."""
    try:
        image = Image.open(io.BytesIO(content))
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise PersonalityFileError(source, f"not a readable PNG image ({exc})") from None
    with image:
        if image.format != "PNG":
            raise PersonalityFileError(source, f"a {image.format} image, not a PNG character card")
        encoded = getattr(image, "text", {}).get(CARD_CHUNK_KEYWORD)
        if encoded is None:
            raise PersonalityFileError(
                source, f"this PNG carries no character card (no '{CARD_CHUNK_KEYWORD}' text chunk)"
            )
        # The avatar we serve is the image without its text chunks: the card
        # holds the character's private prompt, and avatars are public.
        clean = io.BytesIO()
        image.save(clean, "PNG")
    try:
        raw = base64.b64decode("".join(encoded.split()), validate=True)
    except (binascii.Error, ValueError):
        raise PersonalityFileError(source, f"the '{CARD_CHUNK_KEYWORD}' chunk is not valid base64") from None
    card = parse_json(raw, source=f"{source} ('{CARD_CHUNK_KEYWORD}' chunk)")
    avatar = load_avatar(clean.getvalue(), source=source, field="image")
    return card_to_spec(card, source=source, avatar=avatar)


def personality_to_png_card(personality: Personality) -> bytes:
    """The personality's avatar (a drawn placeholder without one) as a PNG card."""
    image_bytes = _avatar_bytes(personality) or placeholder_avatar(personality.shown_name, personality.slug)
    with Image.open(io.BytesIO(image_bytes)) as source_image:
        image = (
            source_image.convert("RGBA") if source_image.mode not in ("RGB", "RGBA") else source_image.copy()
        )
    card = json.dumps(personality_to_card(personality), ensure_ascii=False).encode()
    info = PngImagePlugin.PngInfo()
    info.add_text(CARD_CHUNK_KEYWORD, base64.b64encode(card).decode("ascii"))
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info)
    return out.getvalue()


# --- Files, folders and archives -----------------------------------------------------


def _file_to_spec(path: Path, *, source: str) -> PersonalitySpec:
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise PersonalityFileError(source, f"cannot be read ({exc.strerror})") from None
    if path.suffix.lower() == ".png":
        return png_card_to_spec(content, source=source)
    base = path.parent
    return json_to_spec(content, source=source, read_file=lambda relative: (base / relative).read_bytes())


def read_path(path: Path) -> list[PersonalitySpec]:
    """Every personality in a file or a folder (its ``*.json`` and ``*.png`` files, not sub-folders)."""
    if not path.exists():
        raise PersonalityFileError(str(path), "no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in (".json", ".png"))
        if not files:
            raise PersonalityFileError(str(path), "no personality files (*.json, *.png) in this folder")
    else:
        files = [path]
    specs = [_file_to_spec(file, source=str(file)) for file in files]
    check_unique_slugs(specs)
    return specs


def read_upload(filename: str, content: bytes) -> list[PersonalitySpec]:
    """An uploaded file: a personality or card JSON, a PNG card, or a .zip export."""
    if len(content) > MAX_UPLOAD_BYTES:
        raise PersonalityFileError(filename, "larger than 20 MB")
    if content.startswith(PNG_SIGNATURE):
        return [png_card_to_spec(content, source=filename)]
    if content.startswith(b"PK\x03\x04"):
        return read_archive(content, source=filename)
    return [json_to_spec(content, source=filename, read_file=None)]


def read_archive(content: bytes, *, source: str) -> list[PersonalitySpec]:
    """A .zip as written by the admin's export: top-level JSON files, avatars beside them."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile:
        raise PersonalityFileError(source, "not a readable .zip file") from None
    with archive:
        sizes = {info.filename: info.file_size for info in archive.infolist() if not info.is_dir()}

        def read_member(name: str) -> bytes:
            if sizes.get(name, 0) > MAX_ARCHIVE_MEMBER_BYTES:
                raise PersonalityFileError(f"{source}/{name}", "larger than 8 MB")
            return archive.read(name)

        members = sorted(
            name for name in sizes if "/" not in name and name.lower().endswith((".json", ".png"))
        )
        if not members:
            raise PersonalityFileError(
                source, "no personality files (*.json, *.png) at the top of the archive"
            )
        specs = []
        for name in members:
            member_source = f"{source}/{name}"
            if name.lower().endswith(".png"):
                specs.append(png_card_to_spec(read_member(name), source=member_source))
            else:
                specs.append(json_to_spec(read_member(name), source=member_source, read_file=read_member))
    check_unique_slugs(specs)
    return specs


def check_unique_slugs(specs: Sequence[PersonalitySpec]) -> None:
    seen: dict[str, str] = {}
    for spec in specs:
        if spec.slug in seen:
            raise PersonalityFileError(
                spec.source, f"slug '{spec.slug}' is also used by {seen[spec.slug]}", field="slug"
            )
        seen[spec.slug] = spec.source


def _avatar_bytes(personality: Personality) -> bytes | None:
    if not personality.avatar_image:
        return None
    try:
        with personality.avatar_image.open("rb") as handle:
            return handle.read()
    except OSError:
        return None


def avatar_extension(personality: Personality) -> str:
    suffix = posixpath.splitext(personality.avatar_image.name)[1].lower().lstrip(".")
    return "jpg" if suffix == "jpeg" else suffix or "png"


def personality_to_document(personality: Personality, *, avatar_file: str | None = None) -> dict[str, Any]:
    """Our JSON format for one personality (``avatar_file`` names its image, if written beside it)."""
    document: dict[str, Any] = {}
    for name in FORMAT:
        if name == "avatar_file":
            if avatar_file:
                document[name] = avatar_file
        elif name == "avatar_url":
            if not avatar_file:
                document[name] = personality.avatar_url
        else:
            document[name] = getattr(personality, name)
    return document


def document_bytes(document: Any) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


def export_files(personalities: Iterable[Personality]) -> list[tuple[str, bytes]]:
    """The files of a dump, as (relative path, content): ``<slug>.json`` and ``avatars/<slug>.<ext>``."""
    files: list[tuple[str, bytes]] = []
    for personality in personalities:
        image = _avatar_bytes(personality)
        avatar_file = f"avatars/{personality.slug}.{avatar_extension(personality)}" if image else None
        files.append(
            (
                f"{personality.slug}.json",
                document_bytes(personality_to_document(personality, avatar_file=avatar_file)),
            )
        )
        if image is not None and avatar_file:
            files.append((avatar_file, image))
    return files


def export_archive(personalities: Iterable[Personality]) -> bytes:
    """A .zip of :func:`export_files`, readable by the admin's import."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in export_files(personalities):
            archive.writestr(name, content)
    return out.getvalue()
