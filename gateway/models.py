"""API tokens and generation jobs."""

from __future__ import annotations

import hashlib
import secrets
import uuid

from django.db import models

TOKEN_PREFIX = "tzr_"  # noqa: S105 - a public prefix, not a secret


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token. Only its SHA-256 is stored; the token is shown once, at creation.

    A *service* token (the bot's) may act for any Discord user id; any other
    token acts only for its own ``user_id``.
    """

    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(
        max_length=12, editable=False, help_text="First characters, to tell tokens apart."
    )
    is_service = models.BooleanField(default=False)
    user_id = models.CharField(max_length=32, blank=True, help_text="Discord user id this token acts for.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        kind = "service" if self.is_service else f"user {self.user_id or '-'}"
        return f"{self.name} ({kind}, {self.hint}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def may_act_for(self, user_id: str) -> bool:
        return self.is_service or (bool(self.user_id) and self.user_id == user_id)

    @staticmethod
    def generate() -> str:
        return TOKEN_PREFIX + secrets.token_urlsafe(32)


class JobStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED)


class GenerationJob(models.Model):
    """One request for a character's reply, from ``POST /ai/generate`` to its result.

    ``queued → running → succeeded | failed``; a job left ``running`` by a dead
    worker goes back to ``queued`` (``recoveries`` counts how often).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request_id = models.UUIDField(default=uuid.uuid4, editable=False)
    fingerprint = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    personality = models.ForeignKey(
        "personalities_app.Personality", on_delete=models.PROTECT, related_name="jobs"
    )
    token = models.ForeignKey(ApiToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")

    user_id = models.CharField(max_length=32)
    user_name = models.CharField(max_length=100, blank=True)
    channel_id = models.CharField(max_length=32, blank=True)
    guild_id = models.CharField(max_length=32, blank=True)
    thread_id = models.CharField(max_length=32, blank=True)
    message_id = models.CharField(max_length=32, blank=True)
    message = models.TextField()
    # History, referenced message and attachments, as validated by the API.
    context = models.JSONField(default=dict, blank=True)
    model_override = models.CharField(max_length=200, blank=True)

    result_content = models.TextField(blank=True)
    result_model = models.CharField(max_length=200, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    total_tokens = models.PositiveIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.CharField(max_length=500, blank=True)

    # Where the key came from ("user" or "operator"); never the key itself.
    credential_source = models.CharField(max_length=16, blank=True)
    credential_id = models.BigIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Provider calls made for this job.")
    recoveries = models.PositiveSmallIntegerField(
        default=0, help_text="Times a dead worker's job was requeued."
    )
    worker = models.CharField(
        max_length=200, blank=True, help_text="Worker that holds the job while running."
    )

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The recovery sweep looks only at unfinished jobs.
            models.Index(
                fields=["status", "created_at"],
                name="job_unfinished_idx",
                condition=models.Q(status__in=["queued", "running"]),
            ),
        ]

    def __str__(self) -> str:
        return f"job {self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED
