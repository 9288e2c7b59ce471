"""Writes of the ingest app: Shapes.inc and chat-history imports, and import runs.

An import is checked in full before anything is written (``shapes.read_backup``,
``chats.read_chat`` raise ``ImportFileError`` naming the file, the position and
the field). Then everything is written in ONE transaction: the personality, its
knowledge entries, the user's relationship profile and the memories. Memories
go through ``memory.services.memory_add_many``, which embeds them as it stores
them, so the embedding happens inside that transaction: a failure anywhere
leaves the database as it was, and nobody sees half an import. A dry run takes
the same path without writing and rolls back anyway.

Imports are idempotent: personalities are upserted field by field, knowledge
entries by (source, source id), profiles only fill what is empty, and memories
are unique per (personality, user, text); a second run of the same file
changes nothing and reports everything as skipped.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from memory.models import Memory
from memory.services import content_hash, memory_add_many, normalise_text
from personalities_app.io import PersonalitySpec
from personalities_app.models import Personality, RelationshipProfile
from personalities_app.services import (
    KnowledgeDraft,
    knowledge_upsert,
    personalities_upsert,
    profile_bootstrap,
)
from personalities_app.validators import MAX_BACKSTORY_CHARS

from .chats import ChatFile, exchanges, origin_data, read_chat
from .facts import notable_facts
from .files import ImportFileError, read_bundle
from .models import ImportKind, ImportRun, ImportStatus, MemoryOrigin
from .progress import ProgressFactory, no_progress
from .report import ImportReport, Section
from .shapes import EXTENSIONS_KEY, ShapesBackup, read_backup

log = logging.getLogger(__name__)

# Memories handed to memory_add_many at a time (it embeds them in batches); also the progress step.
MEMORY_CHUNK = 512
# Hashes per database lookup.
LOOKUP_CHUNK = 5000
DISCORD_ID_MAX = 20


class ImportOptionError(Exception):
    """An import asked for something impossible (no user id, an unknown personality); nothing was written."""


@dataclass
class PlannedMemory:
    """A memory an import brings, with where it came from."""

    where: str
    item: dict[str, Any]
    origin_format: str
    origin_id: str
    origin: dict[str, Any]
    hash: str = ""


def _check_user_id(user_id: str) -> str:
    user_id = (user_id or "").strip()
    if not (user_id.isdigit() and len(user_id) <= DISCORD_ID_MAX):
        raise ImportOptionError(f"The user must be a Discord user id (digits), not {user_id!r}.")
    return user_id


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _existing_hashes(personality: Personality | None, user_id: str, hashes: list[str]) -> set[str]:
    if personality is None or personality.pk is None:
        return set()
    found: set[str] = set()
    for chunk in _chunks(hashes, LOOKUP_CHUNK):
        found.update(
            Memory.objects.filter(
                personality_id=personality.pk, user_id=user_id, content_hash__in=chunk
            ).values_list("content_hash", flat=True)
        )
    return found


def _import_memories(
    *,
    personality: Personality | None,
    user_id: str,
    planned: list[PlannedMemory],
    section: Section,
    dry_run: bool,
    progress: ProgressFactory,
) -> None:
    """Count and (unless a dry run) store the planned memories; their origins go beside them."""
    unique: dict[str, PlannedMemory] = {}
    kept: list[PlannedMemory] = []
    for memory in planned:
        if not normalise_text(memory.item["text"]):
            section.skip("empty text")
            continue
        memory.hash = content_hash(memory.item["text"])
        kept.append(memory)
        if memory.hash in unique:
            section.skip("same text as another record of the file")
        else:
            unique[memory.hash] = memory
    known = _existing_hashes(personality, user_id, list(unique))
    fresh = [memory for digest, memory in unique.items() if digest not in known]
    section.skip("already in memory", len(unique) - len(fresh))
    if dry_run:
        section.created += len(fresh)
        return
    assert personality is not None
    bar = progress("memories", len(fresh))
    try:
        for chunk in _chunks(fresh, MEMORY_CHUNK):
            created = memory_add_many(
                personality=personality, user_id=user_id, items=[memory.item for memory in chunk]
            )
            section.created += created
            # Stored meanwhile by someone else (a conversation with the same words): not ours to count.
            section.skip("already in memory", len(chunk) - created)
            bar.advance(len(chunk))
    finally:
        bar.close()
    _store_origins(personality, user_id, kept)


def _store_origins(personality: Personality, user_id: str, memories: list[PlannedMemory]) -> None:
    ids: dict[str, int] = {}
    hashes = sorted({memory.hash for memory in memories})
    for chunk in _chunks(hashes, LOOKUP_CHUNK):
        ids.update(
            Memory.objects.filter(
                personality_id=personality.pk, user_id=user_id, content_hash__in=chunk
            ).values_list("content_hash", "id")
        )
    origins = [
        MemoryOrigin(
            memory_id=ids[memory.hash],
            format=memory.origin_format,
            external_id=memory.origin_id[:255],
            data=memory.origin,
        )
        for memory in memories
        if memory.hash in ids
    ]
    MemoryOrigin.objects.bulk_create(origins, batch_size=1000, ignore_conflicts=True)


# --- Shapes.inc -------------------------------------------------------------------------------


def resolve_user(backup: ShapesBackup, user_id: str | None) -> str:
    """The Discord user whose backup it is: ``--user``, else the id the personalization file carries."""
    from_file = backup.personalization.user_id if backup.personalization else None
    if user_id and from_file and user_id.strip() != from_file:
        raise ImportOptionError(
            f"The backup's personalization file is for Discord user {from_file}, not {user_id.strip()}."
        )
    chosen = (user_id or "").strip() or from_file
    if not chosen:
        raise ImportOptionError(
            "Whose backup is it? Give --user DISCORD_USER_ID "
            "(the personalization file carries no Discord id)."
        )
    return _check_user_id(chosen)


def _upsert_personality(spec: PersonalitySpec, *, dry_run: bool, section: Section) -> Personality | None:
    existing = Personality.objects.select_for_update().filter(slug=spec.slug).first()
    if existing is not None and isinstance(existing.extensions, dict):
        # Extensions of other origins (a character card's, say) stay; ours are replaced.
        others = {key: value for key, value in existing.extensions.items() if key != EXTENSIONS_KEY}
        if others:
            values = {**spec.values, "extensions": {**others, **spec.values["extensions"]}}
            spec = dataclasses.replace(spec, values=values)
    (outcome,) = personalities_upsert(specs=[spec], dry_run=dry_run)
    if outcome.action == "created":
        section.created += 1
    elif outcome.action == "updated":
        section.updated += 1
        section.details.append("changed: " + ", ".join(outcome.changed))
    else:
        section.skip("unchanged")
    if dry_run:
        return existing
    return Personality.objects.get(slug=spec.slug)


def _story_drafts(backup: ShapesBackup, report: ImportReport) -> list[KnowledgeDraft]:
    section = report.section("knowledge")
    drafts: list[KnowledgeDraft] = []
    seen: set[str] = set()
    for story in backup.stories:
        if backup.shape_id and story.shape_id and story.shape_id != backup.shape_id:
            section.skip("belongs to another shape")
        elif story.problem:
            report.record_failure("knowledge", story.where, story.problem)
        elif not story.content.strip():
            section.skip("empty content")
        elif story.id in seen:
            section.skip("same id as another story")
        else:
            seen.add(story.id)
            drafts.append(story.draft())
    return drafts


def _profile_seeds(backup: ShapesBackup, report: ImportReport) -> dict[str, str]:
    """The personalization's values that fit a profile; one that does not is reported, not imported."""
    personalization = backup.personalization
    if personalization is None:
        return {}
    seeds: dict[str, str] = {}
    for name in ("preferred_name", "pronouns", "backstory"):
        value = getattr(personalization, name).strip()
        limit = RelationshipProfile._meta.get_field(name).max_length or MAX_BACKSTORY_CHARS
        if len(value) > limit:
            report.record_failure(
                "profile",
                f"{PurePosixPath(personalization.source).name} {name}",
                f"longer than {limit:,} characters",
            )
        else:
            seeds[name] = value
    return seeds


def _count(section: Section, outcomes: list[tuple[Any, str, tuple[str, ...]]]) -> None:
    for _, action, _changed in outcomes:
        if action == "created":
            section.created += 1
        elif action == "updated":
            section.updated += 1
        else:
            section.skip("unchanged")


def shapes_import(
    *,
    backup: ShapesBackup,
    user_id: str | None = None,
    user_name: str = "",
    dry_run: bool = False,
    progress: ProgressFactory = no_progress,
) -> ImportReport:
    """Import a checked Shapes.inc backup for one Discord user (see the module docstring).

    ``user_id`` may be None when the personalization file carries it;
    ``user_name`` is the user's name as the memories call them, when it is not
    their preferred name (used to find notable facts).
    """
    user = resolve_user(backup, user_id)
    report = ImportReport(
        kind="shapes", source=backup.origin, user_id=user, dry_run=dry_run, personality=backup.slug
    )
    for note in backup.notes:
        report.note(f"configuration: {note}")
    if backup.ignored_files:
        report.note("not imported: " + ", ".join(backup.ignored_files))
    if backup.personalization and backup.personalization.ignored:
        report.note(
            "personalization: not imported (no per-user settings here): "
            + ", ".join(backup.personalization.ignored)
        )
    if not backup.spec.values.get("memory_enabled", True):
        report.note(
            "the shape's long-term memory is off (ltm_enabled false): memories are imported but not recalled"
        )

    memory_section = report.section("memories")
    planned: list[PlannedMemory] = []
    usable = []
    for memory in backup.memories:
        if memory.deleted:
            memory_section.skip("deleted on Shapes.inc")
        elif backup.shape_id and memory.shape_id and memory.shape_id != backup.shape_id:
            memory_section.skip("belongs to another shape")
        elif memory.problem:
            report.record_failure("memories", memory.where, memory.problem)
        else:
            usable.append(memory)
            planned.append(
                PlannedMemory(
                    where=memory.where,
                    item={
                        "text": memory.text,
                        "source": "import",
                        "source_id": f"shapes:{memory.id}",
                        "created_at": memory.created_at,
                        "channel_id": memory.channel_id,
                        "guild_id": memory.guild_id,
                    },
                    origin_format="shapes",
                    origin_id=memory.id,
                    origin=memory.origin,
                )
            )
    newest_first = sorted(
        usable, key=lambda m: m.created_at.timestamp() if m.created_at else float("-inf"), reverse=True
    )
    personalization = backup.personalization
    names = [
        name for name in ((personalization.preferred_name if personalization else ""), user_name) if name
    ]
    facts = notable_facts((m.text for m in newest_first), names)

    with transaction.atomic():
        personality = _upsert_personality(backup.spec, dry_run=dry_run, section=report.section("personality"))
        drafts = _story_drafts(backup, report)
        _count(
            report.section("knowledge"),
            knowledge_upsert(personality=personality, drafts=drafts, dry_run=dry_run),
        )
        profile = report.section("profile")
        seeds = _profile_seeds(backup, report)
        if personalization is None and not facts:
            profile.skip("nothing to import (no personalization file, no notable facts)")
        else:
            action, changed = profile_bootstrap(
                personality=personality, user_id=user, facts=facts, dry_run=dry_run, **seeds
            )
            _count(profile, [(None, action, changed)])
            if changed:
                profile.details.append("filled: " + ", ".join(changed))
        _import_memories(
            personality=personality,
            user_id=user,
            planned=planned,
            section=memory_section,
            dry_run=dry_run,
            progress=progress,
        )
        if dry_run:
            transaction.set_rollback(True)
    _note_pending(report, personality, user, dry_run)
    return report


def _note_pending(report: ImportReport, personality: Personality | None, user_id: str, dry_run: bool) -> None:
    if dry_run or personality is None:
        return
    pending = Memory.objects.filter(
        personality=personality, user_id=user_id, embedding_status="pending"
    ).count()
    if pending:
        report.note(
            f"{pending} memories wait for their embedding (the embedder failed); "
            "the periodic task finishes them, and full-text search finds them meanwhile"
        )


# --- Chat histories ---------------------------------------------------------------------------


def chat_import(
    *,
    chat: ChatFile,
    personality: Personality,
    user_id: str,
    user_name: str = "",
    dry_run: bool = False,
    progress: ProgressFactory = no_progress,
) -> ImportReport:
    """Import a checked chat history as memories of (personality, user), one per exchange."""
    user = _check_user_id(user_id)
    report = ImportReport(
        kind="chat", source=chat.source, user_id=user, dry_run=dry_run, personality=personality.slug
    )
    user_label = user_name or chat.user_name or "User"
    character_label = chat.character_name or personality.shown_name
    groups = exchanges(chat, user_name=user_label, character_name=character_label)
    section = report.section("memories")
    read = len(chat.messages) + sum(chat.skipped.values())
    left_out = ", ".join(f"{count} {reason}" for reason, count in sorted(chat.skipped.items()))
    section.details.append(
        f"{read} messages ({chat.format}) in {len(groups)} exchanges"
        + (f"; left out: {left_out}" if left_out else "")
    )
    if chat.unreadable_times:
        report.note(
            f"{chat.unreadable_times} messages have a time we could not read; "
            "their exchange takes the time of another message (or the import time)"
        )
    file_name = PurePosixPath(chat.source).name
    planned = [
        PlannedMemory(
            where=group.span,
            item={
                "text": group.text,
                "source": "import",
                "source_id": f"{chat.format}:{file_name}#{group.span}"[:255],
                "created_at": group.at,
            },
            origin_format=chat.format,
            origin_id=f"{file_name}#{group.span}",
            origin=origin_data(chat, group),
        )
        for group in groups
    ]
    with transaction.atomic():
        locked = Personality.objects.select_for_update().get(pk=personality.pk)
        _import_memories(
            personality=locked,
            user_id=user,
            planned=planned,
            section=section,
            dry_run=dry_run,
            progress=progress,
        )
        if dry_run:
            transaction.set_rollback(True)
    _note_pending(report, personality, user, dry_run)
    return report


def read_chat_path(path: Path, *, format: str = "auto") -> ChatFile:
    bundle = read_bundle(path, suffixes=(".json", ".jsonl"))
    if len(bundle.files) != 1 or path.is_dir():
        raise ImportFileError(str(path), "give one chat file (.jsonl or .json)")
    ((name, content),) = bundle.files.items()
    return read_chat(name, content, source=str(path), format=format)


def chat_personality(slug: str) -> Personality:
    personality = Personality.objects.filter(slug=slug).first()
    if personality is None:
        raise ImportOptionError(
            f"There is no personality '{slug}'; create it first (admin or loadpersonalities)."
        )
    return personality


# --- Import runs (the admin's uploads, run by Celery) ---------------------------------------------


def import_file(
    *,
    kind: str,
    path: Path,
    user_id: str = "",
    personality_slug: str = "",
    chat_format: str = "auto",
    user_name: str = "",
    dry_run: bool = False,
    progress: ProgressFactory = no_progress,
) -> ImportReport:
    """Read, check and import one file or folder (what the commands and the task do)."""
    if kind == ImportKind.SHAPES:
        backup = read_backup(path)
        return shapes_import(
            backup=backup, user_id=user_id or None, user_name=user_name, dry_run=dry_run, progress=progress
        )
    if kind == ImportKind.CHAT:
        personality = chat_personality(personality_slug)
        chat = read_chat_path(path, format=chat_format or "auto")
        return chat_import(
            chat=chat,
            personality=personality,
            user_id=user_id,
            user_name=user_name,
            dry_run=dry_run,
            progress=progress,
        )
    raise ImportOptionError(f"Unknown kind of import {kind!r}.")


def import_run_create(
    *,
    kind: str,
    upload: UploadedFile,
    user_id: str = "",
    personality_slug: str = "",
    chat_format: str = "auto",
    user_name: str = "",
    dry_run: bool = False,
    created_by: Any = None,
) -> ImportRun:
    """Store an uploaded file under MEDIA_ROOT/imports/ and queue its import (``ingest.run_import``)."""
    run = ImportRun(
        kind=kind,
        user_id=user_id,
        personality_slug=personality_slug,
        chat_format=chat_format,
        user_name=user_name,
        dry_run=dry_run,
    )
    run.upload.save(PurePosixPath(upload.name or "upload").name, upload, save=False)
    return import_run_submit(run=run, created_by=created_by)


def import_run_submit(*, run: ImportRun, created_by: Any = None) -> ImportRun:
    """Save a new run (its file already attached) as queued, and queue its task after the commit."""
    from .tasks import run_import

    run.user_id = run.user_id.strip()
    run.personality_slug = run.personality_slug.strip()
    run.user_name = run.user_name.strip()
    run.chat_format = run.chat_format or "auto"
    run.status = ImportStatus.QUEUED
    run.created_by = created_by if getattr(created_by, "pk", None) else None
    with transaction.atomic():
        run.save()
        transaction.on_commit(lambda: _queue(run.pk, run_import))
    return run


def _queue(run_id: int, task: Any) -> None:
    try:
        task.delay(run_id)
    except Exception as exc:
        log.warning("import run %s not queued (%s)", run_id, type(exc).__name__)
        ImportRun.objects.filter(pk=run_id, status=ImportStatus.QUEUED).update(
            status=ImportStatus.FAILED,
            error="The import could not be queued (is Redis running?). Use 'Run again'.",
            finished_at=timezone.now(),
        )


def import_run_requeue(*, run: ImportRun) -> bool:
    """Run a finished (or long dead) import again; False when it is still queued or running."""
    from .tasks import run_import

    dead_before = timezone.now() - timedelta(seconds=settings.IMPORT_TASK_TIME_LIMIT + 60)
    with transaction.atomic():
        updated = (
            ImportRun.objects.filter(pk=run.pk)
            .exclude(status=ImportStatus.QUEUED)
            .exclude(status=ImportStatus.RUNNING, started_at__gt=dead_before)
            .update(status=ImportStatus.QUEUED, error="", started_at=None, finished_at=None)
        )
        if updated:
            transaction.on_commit(lambda: _queue(run.pk, run_import))
    return bool(updated)


def import_run_execute(*, run_id: int, progress: ProgressFactory = no_progress) -> ImportRun | None:
    """Claim a queued run and import its file; None when another worker has it or it is not queued."""
    now = timezone.now()
    if not ImportRun.objects.filter(pk=run_id, status=ImportStatus.QUEUED).update(
        status=ImportStatus.RUNNING, started_at=now
    ):
        return None
    run = ImportRun.objects.get(pk=run_id)
    try:
        report = import_file(
            kind=run.kind,
            path=Path(run.upload.path),
            user_id=run.user_id,
            personality_slug=run.personality_slug,
            chat_format=run.chat_format,
            user_name=run.user_name,
            dry_run=run.dry_run,
            progress=progress,
        )
    except (ImportFileError, ImportOptionError) as exc:
        run.status = ImportStatus.FAILED
        run.error = f"Nothing was imported. {exc}"
    except Exception as exc:
        log.exception("import run %s failed", run_id)
        run.status = ImportStatus.FAILED
        run.error = f"Nothing was imported: an unexpected error ({type(exc).__name__}); see the worker's log."
    else:
        run.status = ImportStatus.SUCCEEDED
        run.report = report.as_dict()
        run.report_text = report.text()
        run.error = ""
        if run.kind == ImportKind.SHAPES:
            run.personality_slug = report.personality
            run.user_id = report.user_id
    run.finished_at = timezone.now()
    run.save()
    return run
