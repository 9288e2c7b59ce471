"""Import runs started from the admin, and where imported memories came from."""

from __future__ import annotations

import uuid
from pathlib import PurePosixPath

from django.conf import settings
from django.db import models


def upload_path(run: ImportRun, filename: str) -> str:
    """imports/<random>/<original name>: the name keeps its suffix (.tar.gz), never renamed on a clash."""
    return f"imports/{uuid.uuid4().hex}/{PurePosixPath(filename).name}"


class ImportKind(models.TextChoices):
    SHAPES = "shapes", "Shapes.inc backup"
    CHAT = "chat", "Chat history"


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class ImportRun(models.Model):
    """One import of an uploaded file, run by a Celery task; its report when done."""

    kind = models.CharField(max_length=16, choices=ImportKind.choices)
    status = models.CharField(max_length=16, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    upload = models.FileField(upload_to=upload_path, max_length=300, help_text="The uploaded file.")
    user_id = models.CharField(
        max_length=32,
        blank=True,
        help_text="Discord user id whose history it is (Shapes: may come from the backup).",
    )
    personality_slug = models.CharField(
        max_length=64,
        blank=True,
        help_text="Chat imports: the personality. Shapes: the one created or updated.",
    )
    chat_format = models.CharField(max_length=16, blank=True, default="auto")
    user_name = models.CharField(
        max_length=80, blank=True, help_text="The user's name in the history, if known."
    )
    dry_run = models.BooleanField(default=False, help_text="Only report what would change.")
    report = models.JSONField(default=dict, blank=True)
    report_text = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


class MemoryOrigin(models.Model):
    """Where an imported memory came from: the source's ids, senders, times.

    Kept beside the memory (deleted with it) so that nothing of the source is
    lost although a memory has no field for it.
    """

    memory = models.ForeignKey("memory.Memory", on_delete=models.CASCADE, related_name="origins")
    format = models.CharField(max_length=32, help_text="shapes, sillytavern, spicychat, generic")
    external_id = models.CharField(max_length=255, help_text="The record's id in its source.")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["memory", "format", "external_id"], name="memory_origin_unique")
        ]

    def __str__(self) -> str:
        return f"{self.format}:{self.external_id}"
