"""Writes of the gateway app: API tokens and generation jobs."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import psycopg
import redis
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.backends.postgresql.base import ServerBindingCursor
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models import F, Model
from django.utils import timezone

from credentials.models import UserCredential
from personalities_app.models import KnowledgeEntry, Personality, RelationshipProfile

from .errors import NotFound, ServiceUnavailable
from .events import publish_finished, sync_redis
from .heartbeat import WORKERS_KEY
from .models import ApiToken, GenerationJob, JobStatus, hash_token

log = logging.getLogger(__name__)
M = TypeVar("M", bound=Model)

DEDUP_PREFIX = "tzurot:dedup:"
QUEUE_UNAVAILABLE = "The generation queue is unavailable right now; nothing was queued. Try again shortly."


# -- tokens ------------------------------------------------------------------------


@transaction.atomic
def token_create(*, name: str, is_service: bool = False, user_id: str = "") -> tuple[ApiToken, str]:
    """Create a token; returns it and the raw token, which is never stored or shown again."""
    if not is_service and not user_id:
        raise ValueError("A token that is not a service token must act for a user id.")
    raw = ApiToken.generate()
    token = ApiToken.objects.create(
        name=name, key_hash=hash_token(raw), hint=raw[:8], is_service=is_service, user_id=user_id
    )
    return token, raw


def token_register(*, name: str, raw: str, is_service: bool) -> tuple[ApiToken, bool]:
    """Make a token given from outside (e.g. BOT_SERVICE_TOKEN) valid; returns (token, created)."""
    return ApiToken.objects.get_or_create(
        key_hash=hash_token(raw), defaults={"name": name, "hint": raw[:8], "is_service": is_service}
    )


def token_revoke(*, token: ApiToken) -> None:
    from .auth import token_cache_clear

    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    token_cache_clear()


# -- jobs: submission ----------------------------------------------------------------


def job_fingerprint(*, personality_slug: str, user_id: str, channel_id: str, message: str) -> str:
    material = "\x1f".join((personality_slug, user_id, channel_id, message))
    return hashlib.sha256(material.encode()).hexdigest()


# Active personalities by slug (their id and slug), per process. The lookup
# was on every POST and a fifth of its time. An entry lives
# PERSONALITY_CACHE_SECONDS, and any save or delete of a personality in this
# process clears them all. A personality deactivated elsewhere may still be
# accepted for that long: the worker, whose claim reads the current row, fails
# such a job (`unknown_personality`) instead of generating it. One deleted
# elsewhere shows up as a foreign-key violation at the INSERT (`StaleReference`),
# and the API submits again with a fresh lookup.
_personalities: dict[str, tuple[Personality, float]] = {}


class StaleReference(Exception):
    """The job's INSERT named a row that no longer exists: its personality or its token, both cached."""


def personality_for_job(slug: str, *, fresh: bool = False) -> Personality:
    """The active personality ``slug`` (only its id and slug loaded); ``NotFound`` otherwise."""
    now = time.monotonic()
    if not fresh:
        cached = _personalities.get(slug)
        if cached is not None and cached[1] > now:
            return cached[0]
    # The slug is unique, so no ORDER BY (``first()`` would add the default one).
    found = Personality.objects.filter(slug=slug, is_active=True).only("id", "slug").order_by()[:1]
    personality = next(iter(found), None)
    if personality is None:
        _personalities.pop(slug, None)
        raise NotFound(f"There is no active personality called '{slug}'.", code="unknown_personality")
    if settings.PERSONALITY_CACHE_SECONDS:
        if len(_personalities) > 10_000:
            _personalities.clear()
        _personalities[slug] = (personality, now + settings.PERSONALITY_CACHE_SECONDS)
    return personality


def personality_cache_clear(**_: Any) -> None:
    """Forget every cached personality (connected to Personality's save and delete signals)."""
    _personalities.clear()


@dataclass
class JobRequest:
    personality: Personality
    message: str
    user_id: str
    user_name: str = ""
    channel_id: str = ""
    guild_id: str = ""
    thread_id: str = ""
    message_id: str = ""
    context: dict[str, Any] = field(default_factory=dict)
    model_override: str = ""


@dataclass
class Submitted:
    job_id: uuid.UUID
    request_id: uuid.UUID
    status: str
    deduplicated: bool


def _enqueue(job_id: uuid.UUID) -> None:
    from .tasks import generate

    generate.apply_async(args=[str(job_id)], retry=False)


def job_submit(*, request: JobRequest, token: ApiToken | None) -> Submitted:
    """Queue a generation, or hand back the job of an identical request in the dedup window.

    Order matters for "never accepted half-way": the fingerprint is reserved in
    Redis first (so Redis being down refuses the request before anything is
    written), then the job row is committed and the task published. A failed
    publish marks the job failed and releases the fingerprint.
    """
    fingerprint = job_fingerprint(
        personality_slug=request.personality.slug,
        user_id=request.user_id,
        channel_id=request.channel_id,
        message=request.message,
    )
    job_id, request_id = uuid.uuid4(), uuid.uuid4()
    client = sync_redis()
    key = DEDUP_PREFIX + fingerprint
    try:
        for _ in range(3):
            if client.set(key, str(job_id), nx=True, ex=settings.GENERATION_DEDUP_WINDOW):
                break
            existing = client.get(key)
            if existing is None:
                continue  # expired in between: try to reserve again
            found = _existing(uuid.UUID(existing.decode()))
            if found is not None:
                return found
            # The reservation names a job that was never stored: drop it.
            client.delete(key)
        else:
            raise ServiceUnavailable(QUEUE_UNAVAILABLE)
    except redis.RedisError:
        raise ServiceUnavailable(QUEUE_UNAVAILABLE) from None

    try:
        # One INSERT, committed on its own (no BEGIN/COMMIT round trips); the
        # task is published once the row is committed: at once here, or when
        # the caller's own transaction commits if there is one.
        _insert(
            GenerationJob(
                id=job_id,
                request_id=request_id,
                fingerprint=fingerprint,
                personality=request.personality,
                token=token,
                user_id=request.user_id,
                user_name=request.user_name,
                channel_id=request.channel_id,
                guild_id=request.guild_id,
                thread_id=request.thread_id,
                message_id=request.message_id,
                message=request.message,
                context=request.context,
                model_override=request.model_override,
            )
        )
        transaction.on_commit(lambda: _enqueue(job_id))
    except IntegrityError as exc:
        # Nothing was stored; only a reference can be wrong here.
        with contextlib.suppress(redis.RedisError):
            client.delete(key)
        if isinstance(exc.__cause__, psycopg.errors.ForeignKeyViolation):
            raise StaleReference from None
        raise ServiceUnavailable(QUEUE_UNAVAILABLE) from None
    except Exception as exc:
        if GenerationJob.objects.filter(id=job_id).exists():
            # Committed but not published: fail it so nobody waits for it.
            log.warning("could not publish job %s (%s)", job_id, type(exc).__name__)
            GenerationJob.objects.filter(id=job_id, status=JobStatus.QUEUED).update(
                status=JobStatus.FAILED,
                error_code="service_unavailable",
                error_message=QUEUE_UNAVAILABLE,
                finished_at=timezone.now(),
            )
        with contextlib.suppress(redis.RedisError):
            client.delete(key)
        raise ServiceUnavailable(QUEUE_UNAVAILABLE) from None
    return Submitted(job_id, request_id, JobStatus.QUEUED, deduplicated=False)


class _PreparingCursor(ServerBindingCursor):
    """Parameters bound by the server, and every statement prepared (``prepare=True``)."""

    def execute(
        self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: bool | None = None
    ) -> Any:
        return super().execute(query, params, prepare=True if prepare is None else prepare, binary=binary)


class _PreparedDebugWrapper(CursorDebugWrapper):
    """Query logging (DEBUG, tests) of prepared statements: the SQL as written.

    Django logs the statement text psycopg last sent, and psycopg keeps none
    for a prepared statement (it sends only its name and the values).
    """

    def execute(self, sql: Any, params: Any = None) -> Any:
        with self.debug_sql(sql, params):
            return self._execute_with_wrappers(sql, params, many=False, executor=self._execute)


@contextlib.contextmanager
def prepared_cursor() -> Iterator[CursorWrapper]:
    """A cursor for the job's hot statements: PostgreSQL parses and plans each once per connection.

    Django's own cursors bind parameters on the client (psycopg quotes each
    value into the SQL text) and never prepare, so PostgreSQL parses and plans
    the same claim, INSERT and UPDATE for every job. This cursor sends the
    values apart and has psycopg prepare each statement on its first run on a
    (pooled, long-lived) connection. It is wrapped as Django wraps its own, so
    errors, query logging and transactions behave the same.
    """
    connection.ensure_connection()
    raw = _PreparingCursor(connection.connection)
    cursor = (
        _PreparedDebugWrapper(raw, connection) if connection.queries_logged else connection.make_cursor(raw)
    )
    with cursor:
        yield cursor


@functools.cache
def _insert_sql() -> str:
    qn = connection.ops.quote_name
    fields = GenerationJob._meta.concrete_fields
    columns = ", ".join(qn(f.column) for f in fields)
    # Only identifiers from the model's metadata are formatted in; values are parameters.
    return (
        f"INSERT INTO {qn(GenerationJob._meta.db_table)} ({columns})"  # noqa: S608
        f" VALUES ({', '.join(['%s'] * len(fields))})"
    )


def _insert(job: GenerationJob) -> None:
    """``job.save()`` for a new job, without compiling the INSERT anew for every request.

    Each field gives its value as the ORM's insert would (``pre_save`` fills
    ``created_at``; ``get_db_prep_save`` adapts JSON and the rest); the
    statement text is built once per process. ``POST /ai/generate`` is the
    API's hot path, and the ORM's compile was a sixth of its CPU.
    """
    fields = GenerationJob._meta.concrete_fields
    values = [f.get_db_prep_save(f.pre_save(job, add=True), connection) for f in fields]
    with prepared_cursor() as cursor:
        cursor.execute(_insert_sql(), values)
    job._state.adding = False


def _existing(job_id: uuid.UUID) -> Submitted | None:
    # The first request may still be committing its row: look briefly.
    for delay in (0, 0.01, 0.05, 0.1):
        time.sleep(delay)
        job = GenerationJob.objects.filter(id=job_id).values("request_id", "status").first()
        if job is not None:
            return Submitted(job_id, job["request_id"], job["status"], deduplicated=True)
    return None


# -- jobs: the worker's side --------------------------------------------------------


def job_public(job: GenerationJob) -> dict[str, Any]:
    """The job as the API shows it (and as completion events carry it)."""
    result = None
    if job.status == JobStatus.SUCCEEDED:
        result = {
            "content": job.result_content,
            "model": job.result_model,
            "usage": {
                "prompt_tokens": job.prompt_tokens or 0,
                "completion_tokens": job.completion_tokens or 0,
                "total_tokens": job.total_tokens or 0,
            },
        }
    error = None
    if job.status == JobStatus.FAILED:
        error = {"code": job.error_code, "message": job.error_message}
    return {
        "job_id": str(job.id),
        "request_id": str(job.request_id),
        "status": job.status,
        "personality": job.personality.slug,
        "result": result,
        "error": error,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


# The job's columns that job_public reads, then its personality's slug.
_PUBLIC_FIELDS = (
    "id",
    "request_id",
    "status",
    "personality_id",
    "result_content",
    "result_model",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "error_code",
    "error_message",
    "created_at",
    "finished_at",
)


@functools.cache
def _public_sql() -> str:
    qn = connection.ops.quote_name
    job, person = GenerationJob._meta, Personality._meta
    columns = ", ".join(f"j.{qn(job.get_field(name).column)}" for name in _PUBLIC_FIELDS)
    # Only identifiers from the models' metadata are formatted in; values are parameters.
    return (
        f"SELECT {columns}, p.{qn(person.get_field('slug').column)}"  # noqa: S608
        f" FROM {qn(job.db_table)} AS j JOIN {qn(person.db_table)} AS p ON p.id = j.personality_id"
        " WHERE j.id = %s AND (%s OR j.token_id = %s)"
    )


def job_public_get(*, job_id: uuid.UUID, token_id: int | None) -> dict[str, Any] | None:
    """The job as the API shows it; None when there is none, or it is another token's.

    ``token_id`` None (the service token) sees every job. Every ``GET`` of a
    job and every wait reads this, so it is one prepared statement rather
    than an ORM query compiled anew each time.
    """
    with prepared_cursor() as cursor:
        cursor.execute(_public_sql(), [job_id, token_id is None, token_id])
        row = cursor.fetchone()
    if row is None:
        return None
    job = _from_row(GenerationJob, row[:-1], "j", _PUBLIC_FIELDS)
    job.personality = Personality.from_db(connection.alias, ["id", "slug"], [job.personality_id, row[-1]])
    return job_public(job)


@functools.cache
def _claim_sql() -> str:
    qn = connection.ops.quote_name
    job, person = GenerationJob._meta, Personality._meta
    knowledge, profile, keys = KnowledgeEntry._meta, RelationshipProfile._meta, UserCredential._meta
    returned = [f"j.{qn(f.column)}" for f in job.concrete_fields] + [
        f"p.{qn(f.column)}" for f in person.concrete_fields
    ]
    # Whether the lorebook, the user's profile and a key of the user's exist:
    # most characters have no lorebook and most users neither a profile nor a
    # key of their own, and each lookup costs a query.
    returned += [
        f"EXISTS (SELECT 1 FROM {qn(knowledge.db_table)} AS k"  # noqa: S608
        " WHERE k.personality_id = j.personality_id AND k.enabled)",
        f"EXISTS (SELECT 1 FROM {qn(profile.db_table)} AS r"  # noqa: S608
        " WHERE r.personality_id = j.personality_id AND r.user_id = j.user_id)",
        f"EXISTS (SELECT 1 FROM {qn(keys.db_table)} AS c"  # noqa: S608
        " WHERE c.user_id = j.user_id AND c.is_valid)",
    ]
    # Only identifiers from the models' metadata are formatted in; values are parameters.
    return (
        f"UPDATE {qn(job.db_table)} AS j SET status = %s, worker = %s, started_at = %s"  # noqa: S608
        f" FROM {qn(person.db_table)} AS p"
        f" WHERE j.id = %s AND j.status = %s AND p.id = j.personality_id"
        f" RETURNING {', '.join(returned)}"
    )


@functools.cache
def _converters(
    model: type[Model], alias: str, names: tuple[str, ...] | None = None
) -> tuple[list[str], list[tuple[int, Any, list[Any]]]]:
    """Attribute names (all the model's, or ``names``) and, per column that needs them, its converters."""
    fields = model._meta.concrete_fields
    if names is not None:
        fields = [model._meta.get_field(name) for name in names]
    converters = []
    for index, model_field in enumerate(fields):
        column = model_field.get_col(alias)
        found = connection.ops.get_db_converters(column) + model_field.get_db_converters(connection)
        if found:
            converters.append((index, column, found))
    return [f.attname for f in fields], converters


def _from_row(model: type[M], values: Sequence[Any], alias: str, names: tuple[str, ...] | None = None) -> M:
    """A model instance from raw values (of all fields, or of ``names``), converted as the ORM would."""
    attnames, converters = _converters(model, alias, names)
    row = list(values)
    for index, column, found in converters:
        for convert in found:
            row[index] = convert(row[index], column, connection)
    return model.from_db(connection.alias, attnames, row)


def job_claim(*, job_id: str, worker: str) -> GenerationJob | None:
    """Start a queued job; None when it is not queued (another worker has it, or it ended).

    One statement claims the job and returns it with its personality: this is
    on every job's path, and the ORM's UPDATE then SELECT cost the worker about
    three times the CPU (BENCHMARKS.md, "Where the time goes"). The job is
    annotated (as ``annotate()`` would) with ``has_knowledge_entries``,
    ``has_profile`` and ``user_has_keys``, so that generation skips lookups
    that would find nothing.
    """
    with prepared_cursor() as cursor:
        cursor.execute(_claim_sql(), [JobStatus.RUNNING, worker, timezone.now(), job_id, JobStatus.QUEUED])
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(GenerationJob._meta.concrete_fields)
    job = _from_row(GenerationJob, row[:split], "j")
    job.personality = _from_row(Personality, row[split:-3], "p")
    job.has_knowledge_entries, job.has_profile, job.user_has_keys = row[-3:]
    return job


@functools.cache
def _finish_sql(columns: tuple[str, ...]) -> str:
    qn = connection.ops.quote_name
    assignments = ", ".join(f"{qn(column)} = %s" for column in columns)
    # Only identifiers from the model's metadata are formatted in; values are parameters.
    return (
        f"UPDATE {qn(GenerationJob._meta.db_table)} SET {assignments}"  # noqa: S608
        " WHERE id = %s AND status = %s AND worker = %s"
    )


def _store_if_held(job_id: uuid.UUID, worker: str, fields: dict[str, Any]) -> bool:
    """``UPDATE … WHERE status = running AND worker = me``; False when the job was taken over.

    The ORM's ``update()`` compiles the same statement anew for every job, at
    about the CPU of the rest of the store; this statement text is built once
    per set of columns, values prepared by their fields as the ORM would.
    """
    model_fields = [GenerationJob._meta.get_field(name) for name in fields]
    values = [f.get_db_prep_save(fields[f.name], connection) for f in model_fields]
    with prepared_cursor() as cursor:
        cursor.execute(
            _finish_sql(tuple(f.column for f in model_fields)),
            [*values, job_id, JobStatus.RUNNING, worker],
        )
        return cursor.rowcount == 1


def _finish(job: GenerationJob, worker: str, **fields: Any) -> bool:
    """Store the outcome only if this worker still holds the job; then announce it."""
    fields["finished_at"] = timezone.now()
    stored = _store_if_held(job.id, worker, fields)
    if not stored:
        log.warning("job %s was taken over while %s ran it; its outcome is dropped", job.id, worker)
        return False
    for name, value in fields.items():
        setattr(job, name, value)
    try:
        publish_finished(str(job.id), job_public(job))
    except redis.RedisError as exc:
        # Waiters re-read the database when their wait ends; nothing is lost.
        log.warning("could not publish completion of job %s (%s)", job.id, type(exc).__name__)
    return True


def job_succeed(
    *, job: GenerationJob, worker: str, content: str, model: str, usage: dict[str, int], attempts: int
) -> bool:
    return _finish(
        job,
        worker,
        status=JobStatus.SUCCEEDED,
        result_content=content,
        result_model=model,
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        total_tokens=usage.get("total_tokens"),
        attempts=attempts,
        credential_source=job.credential_source,
        credential_id=job.credential_id,
    )


def job_fail(*, job: GenerationJob, worker: str, code: str, message: str, attempts: int = 0) -> bool:
    return _finish(
        job,
        worker,
        status=JobStatus.FAILED,
        error_code=code,
        error_message=message[:500],
        attempts=attempts,
        credential_source=job.credential_source,
        credential_id=job.credential_id,
    )


def jobs_recover() -> dict[str, int]:
    """Requeue jobs whose worker died, and publish queued jobs that have no message.

    A job ``running`` on a worker without a fresh heartbeat goes back to
    ``queued`` (its claim is released) and is published again; after
    ``JOB_MAX_RECOVERIES`` it fails instead. Queued jobs older than
    ``JOB_REQUEUE_AFTER`` are published again when the broker queue is empty
    (so their message was lost); a duplicate message is harmless, because only
    a queued job can be claimed.
    """
    client = sync_redis()
    fresh_after = time.time() - 3 * settings.WORKER_HEARTBEAT_INTERVAL
    alive = {member.decode() for member in client.zrangebyscore(WORKERS_KEY, fresh_after, "+inf")}
    counts = {"requeued": 0, "failed": 0, "republished": 0}
    now = timezone.now()
    for job in (
        GenerationJob.objects.filter(status=JobStatus.RUNNING)
        .exclude(worker__in=alive)
        .only("id", "worker", "recoveries")
    ):
        if job.recoveries + 1 > settings.JOB_MAX_RECOVERIES:
            failed = GenerationJob.objects.filter(
                id=job.id, status=JobStatus.RUNNING, worker=job.worker
            ).update(
                status=JobStatus.FAILED,
                error_code="internal_error",
                error_message="The job was interrupted too many times; please try again.",
                finished_at=now,
            )
            if failed:
                counts["failed"] += 1
                failed_job = GenerationJob.objects.select_related("personality").get(id=job.id)
                publish_finished(str(job.id), job_public(failed_job))
            continue
        released = GenerationJob.objects.filter(
            id=job.id, status=JobStatus.RUNNING, worker=job.worker
        ).update(status=JobStatus.QUEUED, worker="", started_at=None, recoveries=F("recoveries") + 1)
        if released:
            log.warning("job %s was left running by dead worker %s; requeued", job.id, job.worker)
            _enqueue(job.id)
            counts["requeued"] += 1
    if client.llen("celery") == 0:
        stale = now - timedelta(seconds=settings.JOB_REQUEUE_AFTER)
        for job_id in GenerationJob.objects.filter(status=JobStatus.QUEUED, created_at__lt=stale).values_list(
            "id", flat=True
        )[:1000]:
            _enqueue(job_id)
            counts["republished"] += 1
    return counts
