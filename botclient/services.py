"""Writes of the bot app (called from the bot's event loop through ``sync_to_async``)."""

from __future__ import annotations

from django.db import transaction

from .models import DeliveredMessage


@transaction.atomic
def delivered_message_record(
    *, message_ids: list[str], channel_id: str, personality_slug: str, job_id: str = ""
) -> None:
    """Remember which personality sent these messages; recording one twice is harmless."""
    DeliveredMessage.objects.bulk_create(
        [
            DeliveredMessage(
                message_id=message_id, channel_id=channel_id, personality_slug=personality_slug, job_id=job_id
            )
            for message_id in message_ids
        ],
        ignore_conflicts=True,
    )
