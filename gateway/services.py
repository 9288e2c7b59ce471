"""Writes of the gateway app."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from .models import ApiToken, hash_token


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


def token_revoke(*, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
