"""Temporary: operator key only, until the BYOK credentials app lands."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from gateway.errors import ApiError


class NoCredential(ApiError):
    code = "no_api_key"


@dataclass(frozen=True)
class ResolvedCredential:
    api_key: str = field(repr=False)
    base_url: str
    provider: str
    source: str
    credential_id: int | None = None


def credential_resolve(*, user_id: str, provider: str | None = None) -> ResolvedCredential:
    if not settings.LLM_API_KEY:
        raise NoCredential("No API key is configured.")
    return ResolvedCredential(settings.LLM_API_KEY, settings.LLM_BASE_URL, "operator", "operator")


def credential_mark_invalid(*, credential_id: int) -> None:
    return None
