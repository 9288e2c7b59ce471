"""Reads of the personalities app: which personality, where, for whom."""

from __future__ import annotations

from django.db.models import QuerySet

from gateway.errors import NotFound

from .models import ChannelActivation, Personality, UserSelection


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
