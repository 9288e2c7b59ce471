"""Celery tasks of long-term memory: store an exchange, finish pending embeddings."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

from personalities_app.models import Personality

from .services import memory_add, memory_embed_pending

log = logging.getLogger(__name__)


def exchange_text(*, user_name: str, user_message: str, character_name: str, reply: str) -> str:
    """How an exchange is remembered: one line per speaker."""
    return f"{user_name.strip() or 'User'}: {user_message.strip()}\n{character_name.strip()}: {reply.strip()}"


# Safe to run twice (the content hash makes the write idempotent), so a worker
# lost mid-task leaves the message to be delivered again rather than dropped.
@shared_task(
    name="memory.store_exchange",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
)
def memory_store_exchange(
    personality_id: int,
    user_id: str,
    user_name: str,
    user_message: str,
    character_name: str,
    reply: str,
    source_id: str,
    channel_id: str | None = None,
    guild_id: str | None = None,
) -> int | None:
    """Remember one exchange in its (personality, user) scope; returns the memory's id.

    None when there is nothing to remember: the personality is gone or its
    memory is disabled, or both messages are empty. If the embedder fails the
    memory is stored pending and ``memory_embed_pending_task`` completes it.
    """
    personality = Personality.objects.filter(pk=personality_id).first()
    if personality is None or not personality.memory_enabled:
        return None
    if not user_message.strip() and not reply.strip():
        return None
    memory = memory_add(
        personality=personality,
        user_id=user_id,
        text=exchange_text(
            user_name=user_name, user_message=user_message, character_name=character_name, reply=reply
        ),
        source="conversation",
        source_id=source_id,
        channel_id=channel_id,
        guild_id=guild_id,
    )
    return memory.pk


@shared_task(name="memory.embed_pending", acks_late=True, reject_on_worker_lost=True)
def memory_embed_pending_task(limit: int = 1000) -> int:
    """Periodic (Celery beat): embed memories whose embedding is still pending."""
    done = memory_embed_pending(limit=limit)
    if done:
        log.info("embedded %d pending memories", done)
    return done
