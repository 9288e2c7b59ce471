"""Reads of the credentials app. Listings never load (or decrypt) the keys."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import UserCredential, provider_preference


def credential_queryset() -> QuerySet[UserCredential]:
    """All credentials, without the encrypted key (deferred: it is never read for a listing)."""
    return UserCredential.objects.defer("api_key")


def credential_status(*, user_id: str) -> list[UserCredential]:
    """The user's stored keys (provider, hint, validity, dates), in order of preference."""
    return list(credential_queryset().filter(user_id=user_id).order_by(provider_preference()))
