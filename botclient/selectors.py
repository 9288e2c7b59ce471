"""Reads of the bot app."""

from __future__ import annotations

from .models import DeliveredMessage


def delivered_message_personality(*, message_id: str) -> str | None:
    """The personality that sent this Discord message, if the bot sent it."""
    return (
        DeliveredMessage.objects.filter(message_id=message_id)
        .values_list("personality_slug", flat=True)
        .first()
    )
