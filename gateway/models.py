"""API tokens and generation jobs."""

from __future__ import annotations

import hashlib
import secrets

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
