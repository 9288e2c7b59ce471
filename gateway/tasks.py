from __future__ import annotations

from celery import shared_task

from . import generation
from .services import job_claim, job_fail, jobs_recover


@shared_task(name="gateway.ping", ignore_result=False)
def ping(payload: str = "ping") -> dict[str, str]:
    """Round-trip check of broker and worker: answers with the payload and the worker's name."""
    return {"echo": payload, "worker": ping.request.hostname or ""}


# acks_late: a worker that dies mid-generation leaves the message to be
# redelivered; running it twice is safe because only a queued job can be
# claimed, and only the claiming worker can store an outcome.
@shared_task(name="gateway.generate", acks_late=True, reject_on_worker_lost=True)
def generate(job_id: str) -> None:
    worker = generate.request.hostname or "worker"
    job = job_claim(job_id=job_id, worker=worker)
    if job is None:
        return
    if not job.personality.is_active:
        # Deactivated after the job was accepted (the API caches personalities briefly).
        job_fail(
            job=job,
            worker=worker,
            code="unknown_personality",
            message=f"The character '{job.personality.slug}' is no longer available.",
        )
        return
    generation.run(job, worker)


@shared_task(name="gateway.recover_jobs")
def recover_jobs() -> dict[str, int]:
    return jobs_recover()
