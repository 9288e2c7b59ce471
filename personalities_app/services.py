"""Writes of the personalities app: personalities, channel activations, user selections,
knowledge entries (a character's lorebook) and relationship profiles."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from memory.embeddings import EmbeddingError, embed

from .io import Avatar, PersonalitySpec
from .models import (
    ChannelActivation,
    EmbeddingStatus,
    KnowledgeEntry,
    Personality,
    RelationshipProfile,
    UserSelection,
)

log = logging.getLogger(__name__)

Action = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class UpsertOutcome:
    slug: str
    source: str
    action: Action
    changed: tuple[str, ...] = ()


def _stored_digest(personality: Personality) -> str | None:
    if not personality.avatar_image:
        return None
    try:
        with personality.avatar_image.open("rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:  # the row names a file that is gone: treat as changed
        return ""


def _store_avatar(slug: str, avatar: Avatar) -> str:
    name = avatar.storage_name(slug)
    # Content-addressed: an existing file of that name already has these bytes.
    if not default_storage.exists(name):
        name = default_storage.save(name, ContentFile(avatar.content))
    return name


def _changes(existing: Personality, spec: PersonalitySpec) -> list[str]:
    changed = [
        name
        for name, value in spec.values.items()
        if name not in spec.keep_on_update and getattr(existing, name) != value
    ]
    wanted = spec.avatar.digest if spec.avatar else None
    if _stored_digest(existing) != wanted:
        changed.append("avatar_image")
    return changed


@transaction.atomic
def personalities_upsert(*, specs: Sequence[PersonalitySpec], dry_run: bool = False) -> list[UpsertOutcome]:
    """Create or update personalities by slug, all in one transaction.

    ``specs`` are already validated (``personalities_app.io``). An update
    replaces every field a spec sets, except its ``keep_on_update`` fields.
    With ``dry_run`` nothing is written; the outcomes say what would happen.
    """
    slugs = [spec.slug for spec in specs]
    existing = {p.slug: p for p in Personality.objects.select_for_update().filter(slug__in=slugs)}
    outcomes: list[UpsertOutcome] = []
    for spec in specs:
        current = existing.get(spec.slug)
        if current is None:
            outcomes.append(UpsertOutcome(spec.slug, spec.source, "created"))
            if not dry_run:
                personality = Personality(**spec.values)
                if spec.avatar:
                    personality.avatar_image.name = _store_avatar(spec.slug, spec.avatar)
                personality.save()
            continue
        changed = _changes(current, spec)
        if not changed:
            outcomes.append(UpsertOutcome(spec.slug, spec.source, "unchanged"))
            continue
        outcomes.append(UpsertOutcome(spec.slug, spec.source, "updated", tuple(changed)))
        if dry_run:
            continue
        for name in changed:
            if name != "avatar_image":
                setattr(current, name, spec.values[name])
        if "avatar_image" in changed:
            current.avatar_image.name = _store_avatar(spec.slug, spec.avatar) if spec.avatar else ""
        current.save()
    return outcomes


@transaction.atomic
def personalities_set_active(*, personalities: Iterable[Personality], is_active: bool) -> int:
    """Activate or deactivate personalities; returns how many changed."""
    ids = [p.pk for p in personalities]
    return (
        Personality.objects.filter(pk__in=ids)
        .exclude(is_active=is_active)
        .update(is_active=is_active, updated_at=timezone.now())
    )


@transaction.atomic
def activation_set(
    *, channel_id: str, personality: Personality, guild_id: str | None = None, activated_by: str = ""
) -> ChannelActivation:
    """Make ``personality`` answer everything in a channel (replacing any other)."""
    activation, _ = ChannelActivation.objects.update_or_create(
        channel_id=channel_id,
        defaults={
            "personality": personality,
            "guild_id": guild_id or "",
            "activated_by": activated_by,
            "created_at": timezone.now(),
        },
    )
    return activation


@transaction.atomic
def activation_clear(*, channel_id: str) -> bool:
    """Deactivate a channel; False when it had no activation."""
    deleted, _ = ChannelActivation.objects.filter(channel_id=channel_id).delete()
    return deleted > 0


@transaction.atomic
def selection_set(*, user_id: str, personality: Personality, channel_id: str | None = None) -> UserSelection:
    """A user's choice of personality, in one channel or (``channel_id`` None) everywhere."""
    selection, _ = UserSelection.objects.update_or_create(
        user_id=user_id, channel_id=channel_id or "", defaults={"personality": personality}
    )
    return selection


@transaction.atomic
def selection_clear(*, user_id: str, channel_id: str | None = None) -> bool:
    """Forget a user's selection in one channel (or the global one); False when there was none."""
    deleted, _ = UserSelection.objects.filter(user_id=user_id, channel_id=channel_id or "").delete()
    return deleted > 0


# --- Knowledge entries (the lorebook) ---------------------------------------------------


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _needs_embedding(entry: KnowledgeEntry) -> bool:
    return entry.embedding is None or entry.embedded_hash != text_hash(entry.embedding_text())


def _mark_pending(entry: KnowledgeEntry, error: str = "") -> None:
    entry.embedding = None
    entry.embedding_status = EmbeddingStatus.PENDING
    entry.embedded_hash = ""
    entry.embedding_error = error[:300]


def embed_entries(entries: Sequence[KnowledgeEntry]) -> int:
    """Give entries whose text changed a new vector (in memory, not saved); returns how many.

    When the embedder fails they are marked pending instead (the periodic
    ``knowledge_embed_pending`` finishes them): an entry is never refused
    because an embedder is down.
    """
    todo = [entry for entry in entries if _needs_embedding(entry)]
    if not todo:
        return 0
    texts = [entry.embedding_text() for entry in todo]
    try:
        vectors = embed(texts)
    except EmbeddingError as exc:
        log.warning("embedding %d knowledge entries failed; keeping them pending: %s", len(todo), exc)
        for entry in todo:
            _mark_pending(entry, str(exc))
        return 0
    for entry, text, vector in zip(todo, texts, vectors, strict=True):
        entry.embedding = vector
        entry.embedding_status = EmbeddingStatus.READY
        entry.embedded_hash = text_hash(text)
        entry.embedding_error = ""
    return len(todo)


def knowledge_entry_save(*, entry: KnowledgeEntry, embed_now: bool = True) -> KnowledgeEntry:
    """Validate and save an entry; a changed title or content gets a new vector.

    ``embed_now`` embeds before saving (outside any transaction). With
    ``embed_now=False`` (the admin: the web process does not load the local
    model) a changed entry is saved pending and ``personalities.knowledge_embed``
    is queued after the commit.
    """
    entry.keywords = [keyword.strip() for keyword in entry.keywords or []]
    entry.full_clean(validate_constraints=False)
    changed = _needs_embedding(entry)
    if changed and embed_now:
        embed_entries([entry])
    elif changed:
        _mark_pending(entry)
    with transaction.atomic():
        entry.save()
        if changed and not embed_now:
            pk = entry.pk
            transaction.on_commit(lambda: _queue_embedding(pk))
    return entry


def _queue_embedding(entry_id: int) -> None:
    from .tasks import knowledge_embed  # the tasks module imports this one

    try:
        knowledge_embed.delay(entry_id)
    except Exception as exc:  # the periodic task picks it up anyway
        log.warning("knowledge entry %s: embedding not queued (%s)", entry_id, type(exc).__name__)


def knowledge_embed_entry(*, entry_id: int) -> bool:
    """Embed one entry if it still needs it; True when it has its vector now."""
    entry = KnowledgeEntry.objects.filter(pk=entry_id).first()
    if entry is None:
        return False
    if not _needs_embedding(entry):
        return True
    embed_entries([entry])
    with transaction.atomic():
        # Only if nobody changed the text meanwhile (their save queued its own embedding).
        updated = KnowledgeEntry.objects.filter(pk=entry.pk, title=entry.title, content=entry.content).update(
            embedding=entry.embedding,
            embedding_status=entry.embedding_status,
            embedded_hash=entry.embedded_hash,
            embedding_error=entry.embedding_error,
        )
    return bool(updated) and entry.embedding_status == EmbeddingStatus.READY


def knowledge_embed_pending(*, limit: int = 500, batch_size: int = 64) -> int:
    """Embed up to ``limit`` pending entries; returns how many got their vector.

    Stops at the first batch the embedder fails on (the next periodic run tries again).
    """
    done = 0
    last_id = 0
    while done < limit:
        batch = list(
            KnowledgeEntry.objects.filter(embedding_status=EmbeddingStatus.PENDING, id__gt=last_id).order_by(
                "id"
            )[: min(batch_size, limit - done)]
        )
        if not batch:
            break
        last_id = batch[-1].pk
        embed_entries(batch)
        ready = [entry for entry in batch if entry.embedding_status == EmbeddingStatus.READY]
        with transaction.atomic():
            for entry in ready:
                done += KnowledgeEntry.objects.filter(
                    pk=entry.pk, title=entry.title, content=entry.content
                ).update(
                    embedding=entry.embedding,
                    embedding_status=EmbeddingStatus.READY,
                    embedded_hash=entry.embedded_hash,
                    embedding_error="",
                )
        if len(ready) < len(batch):
            break
    return done


@dataclass(frozen=True)
class KnowledgeDraft:
    """An entry as an import brings it; matched to stored entries by (source, source_id)."""

    source: str
    source_id: str
    title: str
    content: str
    keywords: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)


KNOWLEDGE_IMPORTED_FIELDS = ("title", "content", "keywords", "metadata")


def knowledge_upsert(
    *, personality: Personality | None, drafts: Sequence[KnowledgeDraft], dry_run: bool = False
) -> list[tuple[KnowledgeDraft, Action, tuple[str, ...]]]:
    """Create or update a personality's entries from an import, matched by (source, source_id).

    An update replaces the imported fields (title, content, keywords,
    metadata) and keeps ``enabled`` as the operator left it. New and changed
    entries are embedded before they are written. ``personality`` None (a dry
    run of a personality not created yet) means every draft is new. Returns
    (draft, action, changed fields) per draft.
    """
    existing: dict[tuple[str, str], KnowledgeEntry] = {}
    if personality is not None and personality.pk is not None:
        for entry in KnowledgeEntry.objects.select_for_update().filter(
            personality=personality, source__in={d.source for d in drafts}
        ):
            existing[(entry.source, entry.source_id)] = entry
    outcomes: list[tuple[KnowledgeDraft, Action, tuple[str, ...]]] = []
    to_save: list[tuple[KnowledgeEntry, bool]] = []
    for draft in drafts:
        values = {
            "title": draft.title,
            "content": draft.content,
            "keywords": list(draft.keywords),
            "metadata": dict(draft.metadata),
        }
        current = existing.get((draft.source, draft.source_id))
        if current is None:
            outcomes.append((draft, "created", ()))
            if not dry_run:
                assert personality is not None
                entry = KnowledgeEntry(
                    personality=personality, source=draft.source, source_id=draft.source_id, **values
                )
                to_save.append((entry, True))
            continue
        changed = tuple(name for name in KNOWLEDGE_IMPORTED_FIELDS if getattr(current, name) != values[name])
        outcomes.append((draft, "updated" if changed else "unchanged", changed))
        if changed and not dry_run:
            for name in changed:
                setattr(current, name, values[name])
            to_save.append((current, False))
    if to_save:
        entries = [entry for entry, _ in to_save]
        for entry in entries:
            entry.full_clean(validate_constraints=False, exclude=["personality"])
        embed_entries(entries)
        with transaction.atomic():
            for entry in entries:
                entry.save()
    return outcomes


# --- Relationship profiles ------------------------------------------------------------------

PROFILE_FIELDS = ("preferred_name", "pronouns", "backstory", "notable_facts")


def _clean_facts(facts: Iterable[str]) -> list[str]:
    kept: list[str] = []
    seen: set[str] = set()
    for fact in facts:
        text = " ".join(str(fact).split())
        if text and text.casefold() not in seen:
            kept.append(text)
            seen.add(text.casefold())
    return kept


def _normalised(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name == "notable_facts":
            out[name] = _clean_facts(value or [])
        elif name == "backstory":
            out[name] = (value or "").strip()
        else:
            out[name] = " ".join((value or "").split())
    return out


def _profile_save(profile: RelationshipProfile) -> None:
    profile.full_clean(validate_constraints=False, exclude=["personality"])
    profile.save()


@transaction.atomic
def profile_set(*, personality: Personality, user_id: str, **values: Any) -> tuple[RelationshipProfile, bool]:
    """Replace a user's profile with a character (fields not given become empty); (profile, created)."""
    unknown = set(values) - set(PROFILE_FIELDS)
    if unknown:
        raise TypeError(f"unknown profile fields: {sorted(unknown)}")
    full = {name: values.get(name, [] if name == "notable_facts" else "") for name in PROFILE_FIELDS}
    return _profile_write(personality=personality, user_id=user_id, values=_normalised(full))


@transaction.atomic
def profile_update(
    *, personality: Personality, user_id: str, **values: Any
) -> tuple[RelationshipProfile, bool]:
    """Change only the given fields of a user's profile (created if missing); (profile, created)."""
    unknown = set(values) - set(PROFILE_FIELDS)
    if unknown:
        raise TypeError(f"unknown profile fields: {sorted(unknown)}")
    return _profile_write(personality=personality, user_id=user_id, values=_normalised(values))


def _profile_write(
    *, personality: Personality, user_id: str, values: dict[str, Any]
) -> tuple[RelationshipProfile, bool]:
    profile, created = _profile_locked(personality=personality, user_id=user_id)
    changed = created
    for name, value in values.items():
        if getattr(profile, name) != value:
            setattr(profile, name, value)
            changed = True
    if changed:
        _profile_save(profile)
    return profile, created


def _profile_locked(*, personality: Personality | None, user_id: str) -> tuple[RelationshipProfile, bool]:
    """The user's profile, locked for the rest of the transaction, or a new unsaved one; (profile, created).

    A personality not saved yet (a dry run of a new one) has no profile.
    """
    profile = None
    if personality is not None and personality.pk is not None:
        profile = (
            RelationshipProfile.objects.select_for_update()
            .filter(personality=personality, user_id=user_id)
            .first()
        )
    if profile is None:
        return RelationshipProfile(personality=personality, user_id=user_id), True
    return profile, False


@transaction.atomic
def profile_delete(*, personality: Personality, user_id: str) -> bool:
    """Delete a user's profile with a character; False when there was none."""
    deleted, _ = RelationshipProfile.objects.filter(personality=personality, user_id=user_id).delete()
    return deleted > 0


@transaction.atomic
def profile_bootstrap(
    *,
    personality: Personality | None,
    user_id: str,
    preferred_name: str = "",
    pronouns: str = "",
    backstory: str = "",
    facts: Sequence[str] = (),
    dry_run: bool = False,
) -> tuple[Action, tuple[str, ...]]:
    """Seed a profile from imported data without overwriting the user's own words.

    Empty fields take the imported value; fields the user (or an earlier
    import) filled are kept. Imported facts are added when not already listed
    (compared case-insensitively), up to the limit of notable facts. Returns
    the action and the fields that changed; nothing changes on a second run.
    ``personality`` None (a dry run of a personality not created yet) reads as
    no profile yet.
    """
    from .validators import MAX_FACT_CHARS, MAX_FACTS

    profile, created = _profile_locked(personality=personality, user_id=user_id)
    incoming = _normalised({"preferred_name": preferred_name, "pronouns": pronouns, "backstory": backstory})
    changed: list[str] = []
    for name, value in incoming.items():
        if value and not getattr(profile, name):
            setattr(profile, name, value)
            changed.append(name)
    known = {fact.casefold() for fact in profile.notable_facts}
    added = [
        fact for fact in _clean_facts(facts) if fact.casefold() not in known and len(fact) <= MAX_FACT_CHARS
    ]
    room = max(0, MAX_FACTS - len(profile.notable_facts))
    if added[:room]:
        profile.notable_facts = [*profile.notable_facts, *added[:room]]
        changed.append("notable_facts")
    if not changed:
        return "unchanged", ()
    if not dry_run:
        _profile_save(profile)
    return ("created" if created else "updated"), tuple(changed)
