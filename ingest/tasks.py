"""Celery task of the ingest app: run an import uploaded in the admin."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from .progress import LogProgress
from .services import import_run_execute

log = logging.getLogger(__name__)


# Not acks_late: an import can run for an hour, longer than the broker's
# visibility timeout, and a redelivered message would start it a second time.
# A run whose worker died stays 'running'; the admin's "Run again" restarts it
# (imports are idempotent).
@shared_task(
    name="ingest.run_import",
    soft_time_limit=settings.IMPORT_TASK_TIME_LIMIT,
    time_limit=settings.IMPORT_TASK_TIME_LIMIT + 60,
)
def run_import(run_id: int) -> str | None:
    """Import the file of ImportRun ``run_id``; returns its final status (None: not claimed)."""
    run = import_run_execute(
        run_id=run_id, progress=lambda label, total: LogProgress(f"import {run_id}: {label}", total, log)
    )
    if run is None:
        return None
    log.info("import run %s %s", run_id, run.status)
    return run.status
