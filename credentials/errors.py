"""Expected failures of the credentials app (all ``ApiError``s: one JSON error shape).

None of them ever carries a key: messages are written here, never copied from
a provider's answer (providers may echo part of the key).
"""

from __future__ import annotations

from rest_framework import status

from gateway.errors import ApiError, NotFound


class CredentialRejected(ApiError):
    """The provider answered 401/403 to the key."""

    status_code = status.HTTP_400_BAD_REQUEST
    code = "invalid_api_key"


class ProviderUnreachable(ApiError):
    """The key could not be checked: timeout, connection failure, or an unexpected answer."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "provider_unreachable"


class CredentialUnreadable(ApiError):
    """The stored key cannot be decrypted with the configured FIELD_ENCRYPTION_KEY."""

    status_code = status.HTTP_409_CONFLICT
    code = "credential_unreadable"


class NoCredential(ApiError):
    """Neither the user nor the operator has a usable key."""

    status_code = status.HTTP_409_CONFLICT
    code = "no_api_key"

    def __init__(self) -> None:
        super().__init__(
            "No API key is configured: add yours with `/tz key set`, or ask the operator to set LLM_API_KEY."
        )


class UnknownProvider(NotFound):
    code = "unknown_provider"
