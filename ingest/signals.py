"""An import run's uploaded file goes with the run (it holds a user's private history)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete
from django.dispatch import receiver

from .models import ImportRun


@receiver(post_delete, sender=ImportRun)
def delete_upload(sender: type[ImportRun], instance: ImportRun, **kwargs: Any) -> None:
    if instance.upload:
        instance.upload.delete(save=False)
