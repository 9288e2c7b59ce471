"""Reads of the personalities app: which personality, where, for whom; what it knows."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet
from pgvector.django import CosineDistance

from gateway.errors import NotFound
from memory.embeddings import EmbeddingError, embed

from .models import ChannelActivation, KnowledgeEntry, Personality, RelationshipProfile, UserSelection

log = logging.getLogger(__name__)


def personality_get(*, slug: str, viewer_user_id: str | None = None) -> Personality:
    """The active personality ``slug``; ``NotFound`` when unknown or inactive.

    With ``viewer_user_id`` (a Discord user id), a private personality is found
    only by its owner: for anyone else it does not exist (same 404, so private
    slugs are not revealed). Trusted callers (the worker, the service token)
    pass no viewer.
    """
    personality = Personality.objects.filter(slug=slug, is_active=True).first()
    if personality is None or (
        viewer_user_id is not None
        and not personality.is_public
        and personality.owner_user_id != viewer_user_id
    ):
        raise NotFound(f"There is no active personality called '{slug}'.", details={"personality": slug})
    return personality


def personality_list_public() -> QuerySet[Personality]:
    """Active, public personalities, by name."""
    return Personality.objects.filter(is_active=True, is_public=True).order_by("name")


def activation_get(*, channel_id: str, parent_channel_id: str | None = None) -> ChannelActivation | None:
    """The activation of a channel, else of its parent channel (threads inherit it).

    Activations of inactive personalities are ignored: they do not answer.
    """
    for candidate in (channel_id, parent_channel_id):
        if not candidate:
            continue
        activation = (
            ChannelActivation.objects.select_related("personality")
            .filter(channel_id=candidate, personality__is_active=True)
            .first()
        )
        if activation is not None:
            return activation
    return None


def selection_get(*, user_id: str, channel_id: str | None = None) -> UserSelection | None:
    """The user's selection in ``channel_id``, else their global one (inactive personalities skipped)."""
    selections = UserSelection.objects.select_related("personality").filter(
        user_id=user_id, personality__is_active=True
    )
    if channel_id:
        selection = selections.filter(channel_id=channel_id).first()
        if selection is not None:
            return selection
    return selections.filter(channel_id="").first()


def personality_resolve_for(
    *, user_id: str, channel_id: str, parent_channel_id: str | None = None
) -> Personality | None:
    """Which personality answers ``user_id`` in ``channel_id``; None when none does.

    Order, first match wins:
    1. the channel's activation;
    2. the parent channel's activation (for a thread);
    3. the user's selection in the channel;
    4. the user's selection in the parent channel (for a thread);
    5. the user's global selection.
    Inactive personalities are skipped at every step.
    """
    activation = activation_get(channel_id=channel_id, parent_channel_id=parent_channel_id)
    if activation is not None:
        return activation.personality
    selections = UserSelection.objects.select_related("personality").filter(
        user_id=user_id, personality__is_active=True
    )
    for candidate in (channel_id, parent_channel_id):
        if candidate:
            selection = selections.filter(channel_id=candidate).first()
            if selection is not None:
                return selection.personality
    selection = selections.filter(channel_id="").first()
    return selection.personality if selection is not None else None


# --- Knowledge entries and relationship profiles ------------------------------------------


@dataclass(frozen=True)
class KnowledgeHit:
    """A knowledge entry chosen for a prompt: by a keyword (``keyword`` set), or by similarity."""

    entry: KnowledgeEntry
    keyword: str | None
    similarity: float | None


@functools.lru_cache(maxsize=4096)
def keyword_pattern(keyword: str) -> re.Pattern[str]:
    """The keyword as a whole word or phrase, any case ("cat" is not found in "concatenate")."""
    words = [re.escape(word) for word in keyword.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


def matching_keyword(entry: KnowledgeEntry, text: str) -> str | None:
    for keyword in entry.keywords:
        if keyword.strip() and keyword_pattern(keyword.strip()).search(text):
            return keyword
    return None


def knowledge_recall(
    *,
    personality: Personality,
    message: str,
    recent: Sequence[str] = (),
    threshold: float | None = None,
    limit: int | None = None,
) -> list[KnowledgeHit]:
    """The enabled entries of a personality that this moment of the conversation calls for.

    An entry is chosen when one of its keywords appears (whole words, any
    case) in the message or in the last ``KNOWLEDGE_SCAN_DEPTH`` texts of
    ``recent`` (the history, oldest first), or when the message's embedding is
    at least ``threshold`` (default ``KNOWLEDGE_THRESHOLD``) cosine-similar to
    the entry's. Keyword hits come first, then the others by similarity; at
    most ``limit`` (default ``KNOWLEDGE_MAX_ENTRIES``). When the message
    cannot be embedded, keywords alone decide.
    """
    threshold = settings.KNOWLEDGE_THRESHOLD if threshold is None else threshold
    limit = settings.KNOWLEDGE_MAX_ENTRIES if limit is None else limit
    entries = list(
        KnowledgeEntry.objects.filter(personality=personality, enabled=True).defer("embedding").order_by("id")
    )
    if not entries or limit <= 0:
        return []
    depth = settings.KNOWLEDGE_SCAN_DEPTH
    scanned = "\n".join([*(list(recent)[-depth:] if depth else []), message])
    similarity: dict[int, float] = {}
    if message.strip() and any(entry.embedding_status == "ready" for entry in entries):
        try:
            vector = embed([message])[0]
        except EmbeddingError as exc:
            log.warning("knowledge: the message could not be embedded; keywords only: %s", exc)
        else:
            rows = (
                KnowledgeEntry.objects.filter(personality=personality, enabled=True, embedding__isnull=False)
                .annotate(distance=CosineDistance("embedding", vector))
                .values_list("id", "distance")
            )
            similarity = {pk: 1.0 - float(distance) for pk, distance in rows}
    by_keyword: list[KnowledgeHit] = []
    by_meaning: list[KnowledgeHit] = []
    for entry in entries:
        keyword = matching_keyword(entry, scanned)
        score = similarity.get(entry.pk)
        if keyword is not None:
            by_keyword.append(KnowledgeHit(entry, keyword, score))
        elif score is not None and score >= threshold:
            by_meaning.append(KnowledgeHit(entry, None, score))
    # Most similar first; keyword hits without a vector follow, in entry order (stable sort).
    by_keyword.sort(key=lambda hit: -(hit.similarity if hit.similarity is not None else -2.0))
    by_meaning.sort(key=lambda hit: -(hit.similarity or 0.0))
    return (by_keyword + by_meaning)[:limit]


def profile_get(*, personality: Personality, user_id: str) -> RelationshipProfile | None:
    """A user's relationship profile with a character, if they have one."""
    # Unique per (personality, user): no ORDER BY needed (``first()`` and the
    # default ordering add one, and this runs on every generation).
    found = RelationshipProfile.objects.filter(personality=personality, user_id=user_id).order_by()[:1]
    return next(iter(found), None)
