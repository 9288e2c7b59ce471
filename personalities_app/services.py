"""Writes of the personalities app: personalities, channel activations, user selections."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from .io import Avatar, PersonalitySpec
from .models import ChannelActivation, Personality, UserSelection

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
