"""What the bot itself keeps in the database."""

from __future__ import annotations

from django.db import models


class DeliveredMessage(models.Model):
    """A Discord message the bot sent as a personality, so a reply to it reaches that personality.

    Redis holds the same mapping with a TTL for speed; this table is the fallback
    once Redis has forgotten (or lost) it. The bot owns this table; it never
    reads or writes the generation tables.
    """

    message_id = models.CharField(max_length=32, unique=True)
    channel_id = models.CharField(max_length=32)
    personality_slug = models.CharField(max_length=64)
    job_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.message_id} → {self.personality_slug}"
