"""Celery tasks of the personalities app: vectors for knowledge entries."""

from __future__ import annotations

import logging

from celery import shared_task

from .services import knowledge_embed_entry, knowledge_embed_pending

log = logging.getLogger(__name__)


# Idempotent (an entry that has its vector is left alone), so safe to run twice.
@shared_task(name="personalities.knowledge_embed", acks_late=True, reject_on_worker_lost=True)
def knowledge_embed(entry_id: int) -> bool:
    """Embed one knowledge entry saved in the admin; False leaves it to the periodic task."""
    return knowledge_embed_entry(entry_id=entry_id)


@shared_task(name="personalities.knowledge_embed_pending", acks_late=True, reject_on_worker_lost=True)
def knowledge_embed_pending_task(limit: int = 500) -> int:
    """Periodic (Celery beat): embed knowledge entries still waiting for their vector."""
    done = knowledge_embed_pending(limit=limit)
    if done:
        log.info("embedded %d pending knowledge entries", done)
    return done
