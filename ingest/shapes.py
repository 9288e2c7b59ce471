"""Shapes.inc backups: read and check every file, map them onto our models (docs/ingestion.md).

``read_backup(path)`` reads a backup folder, archive or single export file and
returns a :class:`ShapesBackup` in which everything is already checked: the
configuration as a validated ``PersonalitySpec``, the memories, the stories and
the user's personalization. Structural problems (bad JSON, a missing required
field, a wrong type) raise :class:`ImportFileError` before anything is written.
A record whose structure is right but one of whose values is unusable (a
channel id that is not a Discord id, a time out of range) is kept with its
``problem`` and reported as failed; the others are imported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from personalities_app.io import PersonalityFileError, PersonalitySpec, document_to_spec, slug_for_name
from personalities_app.services import KnowledgeDraft
from personalities_app.validators import MAX_KNOWLEDGE_CHARS

from .files import (
    BOOLEAN,
    INTEGER,
    NUMBER,
    OBJECT,
    TEXT,
    TEXT_LIST,
    Bundle,
    ImportFileError,
    Record,
    describe,
    epoch_to_datetime,
    join_path,
    parse_json,
    read_bundle,
)

FORMAT = "shapes"
DISCORD_ID = re.compile(r"^[0-9]{1,20}$")

# --- The configuration -----------------------------------------------------------------------

# Keys of a shape's configuration we check the type of (null is always allowed: "not set").
CONFIG_KINDS: dict[str, str] = {
    "id": TEXT,
    "name": TEXT,
    "username": TEXT,
    "avatar": TEXT,
    "jailbreak": TEXT,
    "user_prompt": TEXT,
    "personality_traits": TEXT,
    "personality_tone": TEXT,
    "personality_appearance": TEXT,
    "personality_likes": TEXT,
    "personality_dislikes": TEXT,
    "personality_conversational_goals": TEXT,
    "personality_conversational_examples": TEXT,
    "personality_history": TEXT,
    "engine_model": TEXT,
    "fallback_engine_model": TEXT,
    "engine_temperature": NUMBER,
    "engine_top_p": NUMBER,
    "engine_top_k": NUMBER,
    "engine_frequency_penalty": NUMBER,
    "engine_presence_penalty": NUMBER,
    "engine_repetition_penalty": NUMBER,
    "engine_min_p": NUMBER,
    "engine_top_a": NUMBER,
    "stm_window": INTEGER,
    "ltm_enabled": BOOLEAN,
    "ltm_threshold": NUMBER,
    "ltm_max_retrieved_summaries": INTEGER,
    "error_message": TEXT,
    "keywords": TEXT_LIST,
    "search_description": TEXT,
}
# Shapes key -> our field, for keys copied as they are.
DIRECT = {
    "name": "name",
    "jailbreak": "system_prompt",
    "personality_traits": "traits",
    "personality_tone": "tone",
    "personality_history": "scenario",
    "personality_likes": "likes",
    "personality_dislikes": "dislikes",
    "personality_conversational_examples": "example_dialogue",
    "engine_model": "model",
    "error_message": "error_message",
}
# Folded into character_info after user_prompt, as labelled paragraphs.
CHARACTER_INFO_PARTS = (
    ("personality_age", "Age"),
    ("personality_appearance", "Appearance"),
    ("personality_conversational_goals", "Conversational goals"),
)
# Keys with a field of ours; every other key is kept in extensions["shapes_inc"].
MAPPED = {
    *DIRECT,
    "username",
    "avatar",
    "user_prompt",
    *(key for key, _ in CHARACTER_INFO_PARTS),
    "engine_temperature",
    "ltm_enabled",
    "ltm_threshold",
    "ltm_max_retrieved_summaries",
}
EXTENSIONS_KEY = "shapes_inc"
# Our fields a Shapes import does not set: an update leaves them as they are.
KEEP_ON_UPDATE = (
    "display_name",
    "aliases",
    "greeting",
    "max_output_tokens",
    "memory_scope",
    "is_active",
    "is_public",
    "owner_user_id",
)
# Our field -> Shapes key, to name the Shapes key in error messages.
FIELD_NAMES = {
    **{ours: theirs for theirs, ours in DIRECT.items()},
    "slug": "username",
    "avatar_url": "avatar",
    "character_info": "user_prompt",
    "temperature": "engine_temperature",
    "memory_enabled": "ltm_enabled",
    "memory_threshold": "ltm_threshold",
    "memory_top_k": "ltm_max_retrieved_summaries",
}
# (low, high) of our numeric fields; Shapes values outside are brought inside, with a note.
RANGES = {
    "engine_temperature": (0.0, 2.0),
    "ltm_threshold": (0.0, 1.0),
    "ltm_max_retrieved_summaries": (1, 50),
}
TEXT_LIMITS = {"error_message": 500, "engine_model": 200}


@dataclass
class ShapesMemory:
    where: str  # e.g. "lilith_memories.json [12]"
    id: str
    text: str
    shape_id: str | None
    deleted: bool
    created_at: datetime | None
    channel_id: str | None
    guild_id: str | None
    origin: dict[str, Any]
    problem: str | None = None


@dataclass
class ShapesStory:
    where: str
    id: str
    title: str
    content: str
    story_type: str
    shape_id: str | None
    metadata: dict[str, Any]
    problem: str | None = None

    def draft(self) -> KnowledgeDraft:
        """The story as a knowledge entry: its title is also its keyword (see docs/ingestion.md)."""
        title = " ".join(self.title.split())[:200]
        keyword = title[:100]
        metadata: dict[str, Any] = {"story_type": self.story_type}
        if self.shape_id:
            metadata["shape_id"] = self.shape_id
        if self.metadata:
            metadata["metadata"] = self.metadata
        return KnowledgeDraft(
            source=FORMAT,
            source_id=self.id,
            title=title,
            content=self.content.strip(),
            keywords=(keyword,) if keyword else (),
            metadata=metadata,
        )


@dataclass
class Personalization:
    source: str
    preferred_name: str = ""
    pronouns: str = ""
    backstory: str = ""
    user_id: str | None = None
    ignored: list[str] = field(default_factory=list)


@dataclass
class ShapesBackup:
    origin: str
    config_source: str
    spec: PersonalitySpec
    shape_id: str | None
    memories: list[ShapesMemory]
    stories: list[ShapesStory]
    personalization: Personalization | None
    ignored_files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def slug(self) -> str:
        return self.spec.slug


def _clamp(key: str, value: float, notes: list[str], original: dict[str, Any]) -> float:
    low, high = RANGES[key]
    if low <= value <= high:
        return value
    clamped = min(max(value, low), high)
    notes.append(f"{key} {value} is outside {low}-{high}; imported as {clamped}")
    original[key] = value
    return clamped


def _https(value: str) -> bool:
    return value.lower().startswith("https://") and len(value) <= 500 and not any(c.isspace() for c in value)


def config_to_spec(record: Record, notes: list[str]) -> tuple[PersonalitySpec, str | None]:
    """Check a shape's configuration and map it onto a personality (spec, shape id)."""
    config = record.value
    for key, kind in CONFIG_KINDS.items():
        record.get(key, kind)
    username = record.get("username", TEXT, required=True)
    record.get("name", TEXT, required=True)
    age = config.get("personality_age")
    if age is not None and (isinstance(age, bool) or not isinstance(age, str | int | float)):
        raise ImportFileError(
            record.source, f"must be text or a number, not {describe(age)}", path="personality_age"
        )

    original: dict[str, Any] = {}
    document: dict[str, Any] = {"slug": slug_for_name(username)}
    for theirs, ours in DIRECT.items():
        value = config.get(theirs)
        if value is None:
            continue
        limit = TEXT_LIMITS.get(theirs)
        if limit and len(value) > limit:
            notes.append(f"{theirs} is longer than {limit} characters; cut to {limit}")
            original[theirs] = value
            value = value[:limit]
        document[ours] = value.strip() if ours == "name" else value
    avatar = config.get("avatar") or ""
    if avatar and _https(avatar):
        document["avatar_url"] = avatar
    elif avatar:
        notes.append("avatar is not an https:// URL; left out (kept in extensions)")
        original["avatar"] = avatar
    parts = [(config.get("user_prompt") or "").strip()]
    for key, label in CHARACTER_INFO_PARTS:
        value = config.get(key)
        if value is not None and str(value).strip():
            parts.append(f"{label}: {str(value).strip()}")
    document["character_info"] = "\n\n".join(part for part in parts if part)
    if config.get("engine_temperature") is not None:
        document["temperature"] = _clamp("engine_temperature", config["engine_temperature"], notes, original)
    if config.get("ltm_enabled") is not None:
        document["memory_enabled"] = config["ltm_enabled"]
    if config.get("ltm_threshold") is not None:
        document["memory_threshold"] = _clamp("ltm_threshold", config["ltm_threshold"], notes, original)
    if config.get("ltm_max_retrieved_summaries") is not None:
        document["memory_top_k"] = int(
            _clamp("ltm_max_retrieved_summaries", config["ltm_max_retrieved_summaries"], notes, original)
        )
    extras = {key: value for key, value in config.items() if key not in MAPPED}
    if original:
        extras["_original"] = original
    document["extensions"] = {EXTENSIONS_KEY: extras}
    try:
        spec = document_to_spec(
            document, source=record.source, read_file=None, names=FIELD_NAMES, keep_on_update=KEEP_ON_UPDATE
        )
    except PersonalityFileError as exc:
        raise ImportFileError(record.source, exc.message, path=exc.field) from None
    shape_id = config.get("id")
    return spec, shape_id if isinstance(shape_id, str) and shape_id else None


# --- Memories, stories, personalization --------------------------------------------------------


def _items(value: Any, *, source: str, key: str) -> tuple[list[Any], str]:
    """The records of a file: a JSON list, or a list under ``key`` of an object."""
    if isinstance(value, list):
        return value, ""
    if isinstance(value, dict) and isinstance(value.get(key), list):
        return value[key], key
    raise ImportFileError(source, f"must be a JSON list of {key} (or an object with a '{key}' list)")


def _discord_id(value: str | None, path: str, problems: list[str]) -> str | None:
    if value is None or not value.strip():
        return None
    if not DISCORD_ID.fullmatch(value.strip()):
        problems.append(f"{path} is not a Discord id (digits)")
        return None
    return value.strip()


def parse_memories(value: Any, *, source: str) -> list[ShapesMemory]:
    records, base = _items(value, source=source, key="memories")
    memories: list[ShapesMemory] = []
    for index, raw in enumerate(records):
        record = Record.of(raw, source=source, path=join_path(base, index), what="memory")
        problems: list[str] = []
        memory_id = record.get("id", TEXT, required=True)
        text = record.get("result", TEXT, required=True)
        meta = record.child("metadata") or Record(source, join_path(record.path, "metadata"), {})
        times: dict[str, float | None] = {
            key: meta.get(key, NUMBER) for key in ("start_ts", "end_ts", "created_at")
        }
        channel = _discord_id(meta.get("discord_channel_id", TEXT), "metadata.discord_channel_id", problems)
        guild = _discord_id(meta.get("discord_guild_id", TEXT), "metadata.discord_guild_id", problems)
        # When it happened: the summary's own time, else the end or start of the conversation.
        moment = next(
            (times[key] for key in ("created_at", "end_ts", "start_ts") if times[key] is not None), None
        )
        created_at = None
        if moment is not None:
            try:
                created_at = epoch_to_datetime(moment)
            except ValueError as exc:
                problems.append(f"metadata time {moment}: {exc}")
        memories.append(
            ShapesMemory(
                where=f"{PurePosixPath(source).name} {record.path}",
                id=memory_id,
                text=text,
                shape_id=record.get("shape_id", TEXT),
                deleted=record.get("deleted", BOOLEAN, default=False),
                created_at=created_at,
                channel_id=channel,
                guild_id=guild,
                origin={
                    "id": memory_id,
                    "shape_id": record.get("shape_id", TEXT),
                    "senders": record.get("senders", TEXT_LIST, default=[]),
                    "summary_type": record.get("summary_type", TEXT),
                    "metadata_senders": meta.get("senders", TEXT_LIST, default=[]),
                    "msg_ids": meta.get("msg_ids", TEXT_LIST, default=[]),
                    **{key: value for key, value in times.items() if value is not None},
                    **({"discord_channel_id": channel} if channel else {}),
                    **({"discord_guild_id": guild} if guild else {}),
                },
                problem="; ".join(problems) or None,
            )
        )
    return memories


def parse_stories(value: Any, *, source: str) -> list[ShapesStory]:
    records, base = _items(value, source=source, key="stories")
    stories = []
    for index, raw in enumerate(records):
        record = Record.of(raw, source=source, path=join_path(base, index), what="story")
        content = record.get("content", TEXT, required=True)
        too_long = len(content.strip()) > MAX_KNOWLEDGE_CHARS
        stories.append(
            ShapesStory(
                where=f"{PurePosixPath(source).name} {record.path}",
                id=record.get("id", TEXT, required=True),
                content=content,
                title=record.get("title", TEXT, default=""),
                story_type=record.get("story_type", TEXT, default="general"),
                shape_id=record.get("shape_id", TEXT),
                metadata=record.get("metadata", OBJECT, default={}),
                problem=f"content is longer than {MAX_KNOWLEDGE_CHARS:,} characters" if too_long else None,
            )
        )
    return stories


PERSONALIZATION_TEXT = ("preferred_name", "pronouns", "backstory")
# Keys that may carry the user's Discord id (a Shapes user id is a UUID, not one).
USER_ID_KEYS = ("discord_user_id", "discord_id", "user_id")


def parse_personalization(value: Any, *, source: str) -> Personalization:
    record = Record.of(value, source=source, path="", what="personalization")
    result = Personalization(source=source)
    for key in PERSONALIZATION_TEXT:
        setattr(result, key, record.get(key, TEXT, default=""))
    for key in USER_ID_KEYS:
        candidate = value.get(key)
        if isinstance(candidate, str) and DISCORD_ID.fullmatch(candidate.strip()):
            result.user_id = candidate.strip()
            break
    result.ignored = sorted(
        key
        for key, item in value.items()
        if key not in (*PERSONALIZATION_TEXT, *USER_ID_KEYS) and item is not None
    )
    return result


# --- Finding the files ---------------------------------------------------------------------------

IGNORED_SUFFIXES = ("_chat_history.json", "_training.json")


def classify(name: str) -> str:
    """What a backup file holds, by its name: config, memories, stories, personalization or ignored."""
    base = PurePosixPath(name).name.lower()
    if (
        base.startswith(".")
        or base.endswith(IGNORED_SUFFIXES)
        or base in ("chat_history.json", "training.json")
    ):
        return "ignored"
    if base.endswith("_memories.json") or base == "memories.json":
        return "memories"
    if base.endswith(("_knowledge.json", "_stories.json")) or base in ("knowledge.json", "stories.json"):
        return "stories"
    if base.endswith("_user_personalization.json") or base in (
        "user_personalization.json",
        "personalization.json",
        "user.json",
    ):
        return "personalization"
    return "config"


def _pick_config(bundle: Bundle, names: list[str], others: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    if not names:
        raise ImportFileError(
            bundle.origin, "no configuration file (e.g. <shape>.json) in this backup; see docs/ingestion.md"
        )
    # The configuration is named like its sibling files: lilith.json beside lilith_memories.json.
    prefixes = {PurePosixPath(name).name.split("_", 1)[0].lower() for name in others if "_" in name}
    matching = [name for name in names if PurePosixPath(name).stem.lower() in prefixes]
    if len(matching) == 1:
        return matching[0]
    raise ImportFileError(
        bundle.origin,
        f"several files could be the shape's configuration ({', '.join(sorted(names))}); "
        "import one shape's folder at a time",
    )


def _unique(bundle: Bundle, kind: str, names: list[str]) -> str | None:
    if len(names) > 1:
        raise ImportFileError(
            bundle.origin, f"several {kind} files ({', '.join(sorted(names))}); expected one"
        )
    return names[0] if names else None


def read_backup(path: Path) -> ShapesBackup:
    """Read and check a whole backup (folder, .zip/.tar.gz archive, or one export .json file)."""
    bundle = read_bundle(path, suffixes=(".json",))
    if not bundle.files:
        raise ImportFileError(bundle.origin, "no .json files in this backup")
    if len(bundle.files) == 1:
        (name,) = bundle.files
        document = parse_json(bundle.files[name], source=bundle.source(name))
        if isinstance(document, dict) and isinstance(document.get("config"), dict):
            return _from_export(bundle.source(name), document)
    kinds: dict[str, list[str]] = {}
    for name in bundle.files:
        kinds.setdefault(classify(name), []).append(name)
    config_name = _pick_config(
        bundle, kinds.get("config", []), [n for k, v in kinds.items() if k != "config" for n in v]
    )
    config_source = bundle.source(config_name)
    notes: list[str] = []
    spec, shape_id = config_to_spec(
        Record.of(
            parse_json(bundle.files[config_name], source=config_source),
            source=config_source,
            path="",
            what="configuration",
        ),
        notes,
    )
    memories_name = _unique(bundle, "memories", kinds.get("memories", []))
    stories_name = _unique(bundle, "stories", kinds.get("stories", []))
    personalization_name = _unique(bundle, "personalization", kinds.get("personalization", []))

    def load(name: str | None) -> tuple[Any, str] | None:
        if name is None:
            return None
        return parse_json(bundle.files[name], source=bundle.source(name)), bundle.source(name)

    memories = stories = None
    personalization = None
    if (loaded := load(memories_name)) is not None:
        memories = parse_memories(loaded[0], source=loaded[1])
    if (loaded := load(stories_name)) is not None:
        stories = parse_stories(loaded[0], source=loaded[1])
    if (loaded := load(personalization_name)) is not None:
        personalization = parse_personalization(loaded[0], source=loaded[1])
    return ShapesBackup(
        origin=bundle.origin,
        config_source=config_source,
        spec=spec,
        shape_id=shape_id,
        memories=memories or [],
        stories=stories or [],
        personalization=personalization,
        ignored_files=sorted(kinds.get("ignored", [])),
        notes=notes,
    )


def _from_export(source: str, document: dict[str, Any]) -> ShapesBackup:
    """One JSON file holding everything: ``{"config", "memories", "stories", "user_personalization"}``."""
    notes: list[str] = []
    config = Record.of(document["config"], source=source, path="config", what="configuration")
    spec, shape_id = _prefixed(lambda: config_to_spec(Record(source, "", config.value), notes), "config")
    memories = _prefixed(lambda: parse_memories(document.get("memories") or [], source=source), "memories")
    stories = _prefixed(lambda: parse_stories(document.get("stories") or [], source=source), "stories")
    raw_user = document.get("user_personalization", document.get("userPersonalization"))
    personalization = (
        _prefixed(lambda: parse_personalization(raw_user, source=source), "user_personalization")
        if raw_user is not None
        else None
    )
    return ShapesBackup(
        origin=source,
        config_source=source,
        spec=spec,
        shape_id=shape_id,
        memories=memories,
        stories=stories,
        personalization=personalization,
        notes=notes,
    )


def _prefixed(read: Any, prefix: str) -> Any:
    """Run ``read``, putting ``prefix`` in front of the path of any error (one-file exports)."""
    try:
        return read()
    except ImportFileError as exc:
        path = exc.path or ""
        if not path.startswith(prefix):
            path = f"{prefix}{path}" if path.startswith("[") else join_path(prefix, path) if path else prefix
        raise ImportFileError(exc.source, exc.message, path=path, line=exc.line, column=exc.column) from None
