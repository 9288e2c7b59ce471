"""Bearer-token authentication for the API (``Authorization: Bearer tzr_…``)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from .concurrency import run_blocking
from .models import ApiToken, hash_token

# last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)

# Looking a token up costs a query; the API checks one on every request. Known
# tokens are kept in-process for TOKEN_CACHE_SECONDS, so a revocation takes
# effect within that time (and at once in the process that revoked it).
_cache: dict[str, tuple[ApiToken, float]] = {}


class TokenPrincipal:
    """``request.user`` for token-authenticated requests."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, token: ApiToken) -> None:
        self.token = token
        self.is_service = token.is_service
        self.user_id = token.user_id
        self.is_staff = False

    def may_act_for(self, user_id: str) -> bool:
        return self.token.may_act_for(user_id)

    def __str__(self) -> str:
        return str(self.token)


def token_from_header(header: str | None) -> ApiToken | None:
    """The active token named by an ``Authorization`` header; None when absent.

    Raises ``AuthenticationFailed`` for a malformed header or an unknown or
    revoked token.
    """
    if not header:
        return None
    scheme, _, raw = header.partition(" ")
    if scheme.lower() not in ("bearer", "token") or not raw.strip():
        raise exceptions.AuthenticationFailed("Use the header 'Authorization: Bearer <token>'.")
    key_hash = hash_token(raw.strip())
    now = time.monotonic()
    cached = _cache.get(key_hash)
    if cached is not None and cached[1] > now:
        return cached[0]
    token = ApiToken.objects.filter(key_hash=key_hash, revoked_at__isnull=True).first()
    if token is None:
        _cache.pop(key_hash, None)
        raise exceptions.AuthenticationFailed("The token is not valid, or it has been revoked.")
    moment = timezone.now()
    if token.last_used_at is None or moment - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=moment)
        token.last_used_at = moment
    if settings.TOKEN_CACHE_SECONDS:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[key_hash] = (token, now + settings.TOKEN_CACHE_SECONDS)
    return token


def token_cache_clear() -> None:
    _cache.clear()


# Where ``resolve_token`` leaves its answer on the Django request.
_RESOLVED = "_tzurot_token"
_UNRESOLVED = object()


async def resolve_token(request: HttpRequest) -> None:
    """Look the request's token up ahead of DRF's (synchronous) authentication.

    A cached token is found on the event loop; only a miss goes to a thread
    (it queries the database). The answer, a token or the authentication
    error, is kept on the request for ``BearerTokenAuthentication``.
    """
    header = request.META.get("HTTP_AUTHORIZATION")
    if not header:
        setattr(request, _RESOLVED, None)
        return
    try:
        cached = _cached(header)
        token = cached if cached is not None else await run_blocking(token_from_header, header)
    except exceptions.AuthenticationFailed as exc:
        setattr(request, _RESOLVED, exc)
    else:
        setattr(request, _RESOLVED, token)


def _cached(header: str | None) -> ApiToken | None:
    if not header:
        return None
    scheme, _, raw = header.partition(" ")
    if scheme.lower() not in ("bearer", "token") or not raw.strip():
        return None
    found = _cache.get(hash_token(raw.strip()))
    return found[0] if found is not None and found[1] > time.monotonic() else None


class BearerTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[TokenPrincipal, ApiToken] | None:
        resolved = getattr(request._request, _RESOLVED, _UNRESOLVED)
        if resolved is _UNRESOLVED:
            token = token_from_header(request.META.get("HTTP_AUTHORIZATION"))
        elif isinstance(resolved, exceptions.AuthenticationFailed):
            raise resolved
        else:
            token = resolved
        if token is None:
            return None
        return TokenPrincipal(token), token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="tzurot"'


class HasToken(permissions.BasePermission):
    message = "Authentication required: send 'Authorization: Bearer <token>'."

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.user, TokenPrincipal)


def require_acting_for(request: Request, user_id: str) -> None:
    """403 unless the request's token may act for ``user_id``."""
    user = request.user
    if not isinstance(user, TokenPrincipal) or not user.may_act_for(user_id):
        raise exceptions.PermissionDenied("This token may not act for that user.")
