from __future__ import annotations

from celery import shared_task


@shared_task(name="gateway.ping", ignore_result=False)
def ping(payload: str = "ping") -> dict[str, str]:
    """Round-trip check of broker and worker: answers with the payload and the worker's name."""
    return {"echo": payload, "worker": ping.request.hostname or ""}
