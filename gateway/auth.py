"""Bearer-token authentication for the API (``Authorization: Bearer tzr_…``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from .models import ApiToken, hash_token

# last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


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
    token = ApiToken.objects.filter(key_hash=hash_token(raw.strip()), revoked_at__isnull=True).first()
    if token is None:
        raise exceptions.AuthenticationFailed("The token is not valid, or it has been revoked.")
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


class BearerTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[TokenPrincipal, ApiToken] | None:
        token = token_from_header(request.META.get("HTTP_AUTHORIZATION"))
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
