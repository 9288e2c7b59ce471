"""Writes of the credentials app: set, check, delete and resolve users' API keys.

Keys never reach a log line, an error message or a return value other than
``credential_resolve``'s (whose repr hides it). Functions holding a key in a
local variable are marked ``sensitive_variables`` so Django's error reports
mask it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

import openai
from django.conf import settings
from django.db import transaction
from django.db.models import BinaryField
from django.db.models.functions import Cast
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from gateway.errors import ApiError, NotFound

from .crypto import Ciphertext, cipher_for, is_readable
from .errors import (
    CredentialRejected,
    CredentialUnreadable,
    NoCredential,
    ProviderUnreachable,
    UnknownProvider,
)
from .models import PROVIDER_PREFERENCE, Provider, UserCredential

__all__ = [
    "CredentialRejected",
    "CredentialUnreadable",
    "NoCredential",
    "ProviderUnreachable",
    "ResolvedCredential",
    "RotationReport",
    "UnknownProvider",
    "credential_delete",
    "credential_mark_invalid",
    "credential_resolve",
    "credential_rotate_key",
    "credential_set",
    "credential_verify",
]

logger = logging.getLogger(__name__)

MIN_KEY_LENGTH = 8
MAX_KEY_LENGTH = 512
# last_used_at is written at most this often per key, not on every generation.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class ResolvedCredential:
    """The key to call a provider with, and where it came from.

    Its repr never shows the key, and it refuses to be pickled: a job stores
    ``credential_id`` and ``source``, and resolves again when it runs.
    """

    api_key: str = field(repr=False)
    base_url: str
    provider: str
    source: Literal["user", "operator"]
    credential_id: int | None

    def __reduce__(self) -> object:
        raise TypeError("A resolved credential holds a secret; store credential_id and source instead.")


# --- validation -------------------------------------------------------------------


def _invalid(field_name: str, message: str) -> ApiError:
    return ApiError(
        f"{field_name}: {message}", code="invalid_request", details={"fields": {field_name: [message]}}
    )


def provider_check(provider: str) -> Provider:
    """The provider named ``provider``; 404 listing the valid ones otherwise."""
    try:
        return Provider(provider)
    except ValueError:
        valid = ", ".join(p.value for p in Provider)
        raise UnknownProvider(
            f"Unknown provider {provider[:40]!r}: use one of {valid}.",
            details={"providers": [p.value for p in Provider]},
        ) from None


@sensitive_variables("api_key")
def _clean_api_key(api_key: str) -> str:
    # Messages here describe the problem and never quote the value.
    if not isinstance(api_key, str):
        raise _invalid("api_key", "must be a string.")
    api_key = api_key.strip()
    if not api_key:
        raise _invalid("api_key", "must not be empty.")
    if not all(33 <= ord(ch) <= 126 for ch in api_key):
        raise _invalid("api_key", "must be printable ASCII characters without spaces.")
    if not MIN_KEY_LENGTH <= len(api_key) <= MAX_KEY_LENGTH:
        raise _invalid("api_key", f"must be between {MIN_KEY_LENGTH} and {MAX_KEY_LENGTH} characters long.")
    return api_key


def _clean_base_url(provider: Provider, base_url: str | None) -> str:
    base_url = (base_url or "").strip()
    if provider != Provider.CUSTOM:
        if base_url:
            raise _invalid("base_url", "is only for the custom provider; leave it out for this one.")
        return ""
    if not base_url:
        raise _invalid("base_url", "is required for the custom provider (e.g. https://host/v1).")
    if len(base_url) > 500:
        raise _invalid("base_url", "must be at most 500 characters long.")
    try:
        parts = urlsplit(base_url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise _invalid("base_url", "is not a valid URL.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid("base_url", "must be an http:// or https:// URL with a host name.")
    if parts.username or parts.password:
        raise _invalid("base_url", "must not contain a user name or password; send the key as api_key.")
    return base_url.rstrip("/")


def user_id_check(user_id: str) -> str:
    """``user_id`` if it is a Discord id (digits); a 400 naming the field otherwise."""
    if not (isinstance(user_id, str) and user_id.isascii() and user_id.isdigit() and len(user_id) <= 32):
        raise _invalid("user_id", "must be a Discord id (a string of digits).")
    return user_id


def _hint(api_key: str) -> str:
    return "…" + api_key[-4:]


def provider_base_url(provider: str, custom_url: str = "") -> str:
    if provider == Provider.CUSTOM:
        return custom_url
    return settings.CREDENTIAL_PROVIDER_BASE_URLS[provider]


# --- the check against the provider -------------------------------------------------


@dataclass(frozen=True)
class _Probe:
    outcome: Literal["accepted", "rejected", "unreachable"]
    reason: str = ""


@sensitive_variables("api_key")
def _probe(*, provider: str, api_key: str, base_url: str) -> _Probe:
    """Ask the provider whether it accepts ``api_key``.

    OpenAI and OpenAI-compatible endpoints: the model list, which needs a key.
    OpenRouter's model list is public (any key passes), so there we ask for the
    key's own record (``GET /key``), which answers 401 to a bad key.
    The caller raises, outside any ``except``, so no provider error (which may
    echo part of the key) is chained to ours.
    """
    timeout = settings.CREDENTIAL_VERIFY_TIMEOUT
    try:
        with openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0) as client:
            if provider == Provider.OPENROUTER:
                client.get("/key", cast_to=object)
            else:
                client.models.list()
    except (openai.AuthenticationError, openai.PermissionDeniedError):
        return _Probe("rejected")
    except openai.APITimeoutError:
        return _Probe("unreachable", f"did not answer within {timeout:g} seconds")
    except openai.APIConnectionError:
        return _Probe("unreachable", "could not be reached")
    except openai.APIStatusError as exc:
        return _Probe("unreachable", f"answered with HTTP status {exc.status_code}")
    except (openai.APIError, ValueError):
        return _Probe("unreachable", "gave an answer that could not be read")
    return _Probe("accepted")


def _label(provider: str) -> str:
    return Provider(provider).label


def _rejected(provider: str) -> CredentialRejected:
    return CredentialRejected(
        f"{_label(provider)} rejected the API key (it answered that the key is not valid). "
        "Check that you copied the whole key and that it has not been revoked."
    )


def _unreachable(provider: str, base_url: str, reason: str) -> ProviderUnreachable:
    logger.info(
        "Could not check a %s key at %s: the provider %s.", provider, urlsplit(base_url).netloc, reason
    )
    return ProviderUnreachable(
        f"The key could not be checked: {_label(provider)} {reason}. Try again later, "
        "or save it without checking (verify=false).",
        details={"provider": provider},
    )


def _readable_key(credential: UserCredential) -> str:
    """The decrypted key; ``CredentialUnreadable`` (and a warning for the operator) if it is not."""
    value = credential.api_key
    if isinstance(value, str):
        return value
    # A crypto.Ciphertext: the bytes did not decrypt under the configured key.
    logger.warning(
        "The stored %s key of user %s (credential %s) cannot be decrypted with the configured "
        "FIELD_ENCRYPTION_KEY. If that key was changed, restore the previous one or run "
        "`manage.py rotate_credentials_key --old-key-file <previous key>`; otherwise the user must "
        "set the key again.",
        credential.provider,
        credential.user_id,
        credential.pk,
    )
    raise CredentialUnreadable(
        f"Your stored {_label(credential.provider)} API key cannot be read any more "
        "(the server's encryption key has changed). Please set it again with `/tz key set`.",
        details={"provider": credential.provider},
    )


# --- services ------------------------------------------------------------------------


@sensitive_variables("api_key")
def credential_set(
    *, user_id: str, provider: str, api_key: str, base_url: str | None = None, verify: bool = True
) -> UserCredential:
    """Store (or replace) the user's key for ``provider``.

    With ``verify``, the key is first checked against the provider: a rejected
    key raises ``CredentialRejected``, an unanswered check ``ProviderUnreachable``;
    in both cases nothing is stored and an existing key is kept.
    """
    provider = provider_check(provider)
    user_id = user_id_check(user_id)
    api_key = _clean_api_key(api_key)
    custom_url = _clean_base_url(provider, base_url)
    if verify:
        endpoint = provider_base_url(provider, custom_url)
        probe = _probe(provider=provider, api_key=api_key, base_url=endpoint)
        if probe.outcome == "rejected":
            raise _rejected(provider)
        if probe.outcome == "unreachable":
            raise _unreachable(provider, endpoint, probe.reason)
    # The network check above runs outside the transaction: no row or
    # connection is held while a provider takes its time.
    with transaction.atomic():
        credential, created = UserCredential.objects.update_or_create(
            user_id=user_id,
            provider=provider,
            defaults={
                "api_key": api_key,
                "base_url": custom_url,
                "hint": _hint(api_key),
                "is_valid": True,
                "created_at": timezone.now(),
                "last_used_at": None,
            },
        )
    logger.info(
        "%s the %s key of user %s (%s).",
        "Stored" if created else "Replaced",
        provider,
        user_id,
        "checked" if verify else "not checked",
    )
    return credential


@transaction.atomic
def credential_delete(*, user_id: str, provider: str) -> bool:
    """Delete the user's key for ``provider``; False if there was none."""
    provider = provider_check(provider)
    deleted, _ = UserCredential.objects.filter(user_id=user_id, provider=provider).delete()
    if deleted:
        logger.info("Deleted the %s key of user %s.", provider, user_id)
    return bool(deleted)


@sensitive_variables("api_key")
def credential_verify(*, user_id: str, provider: str) -> tuple[bool, str]:
    """Check the stored key against the provider now; records the answer in ``is_valid``.

    Returns (valid, a message for the user). Raises ``NotFound`` without a
    stored key, ``CredentialUnreadable`` if it cannot be decrypted, and
    ``ProviderUnreachable`` when the provider does not answer (``is_valid`` is
    then left as it was).
    """
    provider = provider_check(provider)
    credential = UserCredential.objects.filter(user_id=user_id, provider=provider).first()
    if credential is None:
        raise NotFound(f"No {_label(provider)} key is stored for this user.")
    api_key = _readable_key(credential)
    endpoint = provider_base_url(provider, credential.base_url)
    probe = _probe(provider=provider, api_key=api_key, base_url=endpoint)
    if probe.outcome == "unreachable":
        raise _unreachable(provider, endpoint, probe.reason)
    valid = probe.outcome == "accepted"
    UserCredential.objects.filter(pk=credential.pk).update(is_valid=valid)
    if valid:
        return True, f"The {_label(provider)} key works."
    logger.info("The %s key of user %s was rejected by the provider.", provider, user_id)
    return False, _rejected(provider).message + " It will not be used until you set a new one."


def _operator_provider() -> str:
    url = settings.LLM_BASE_URL.rstrip("/")
    for name, known in settings.CREDENTIAL_PROVIDER_BASE_URLS.items():
        if known.rstrip("/") == url:
            return name
    return Provider.CUSTOM.value


@sensitive_variables("api_key")
def credential_resolve(
    *, user_id: str, provider: str | None = None, user_has_keys: bool = True
) -> ResolvedCredential:
    """The key a generation for ``user_id`` should use.

    The user's valid key for ``provider`` (or, with no provider, their valid key
    in the order openrouter, openai, custom); else the operator's
    ``LLM_API_KEY`` at ``LLM_BASE_URL``; else ``NoCredential``. A user key that
    cannot be decrypted raises ``CredentialUnreadable`` rather than silently
    spending the operator's key. Records the key's last use.

    ``user_has_keys=False`` says the caller already knows the user has no
    valid key (the worker learns it with its claim), so no query is made.
    """
    credential = None
    if user_has_keys:
        keys = UserCredential.objects.filter(user_id=user_id, is_valid=True)
        if provider is not None:
            keys = keys.filter(provider=provider_check(provider))
        # At most one key per provider: the preference is applied here rather
        # than as an ORDER BY CASE, which cost every generation ~0.5 ms to compile.
        credential = min(keys, key=lambda key: PROVIDER_PREFERENCE.index(key.provider), default=None)
    if credential is not None:
        api_key = _readable_key(credential)
        now = timezone.now()
        if credential.last_used_at is None or now - credential.last_used_at >= LAST_USED_RESOLUTION:
            UserCredential.objects.filter(pk=credential.pk).update(last_used_at=now)
        return ResolvedCredential(
            api_key=api_key,
            base_url=provider_base_url(credential.provider, credential.base_url),
            provider=credential.provider,
            source="user",
            credential_id=credential.pk,
        )
    if settings.LLM_API_KEY:
        return ResolvedCredential(
            api_key=settings.LLM_API_KEY,
            base_url=settings.LLM_BASE_URL,
            provider=_operator_provider(),
            source="operator",
            credential_id=None,
        )
    raise NoCredential()


def credential_mark_invalid(*, credential_id: int) -> None:
    """Stop using a key the provider rejected (called by the generation worker on 401/403)."""
    updated = UserCredential.objects.filter(pk=credential_id, is_valid=True).update(is_valid=False)
    if updated:
        logger.info("Credential %s was rejected by its provider; marked invalid.", credential_id)


@dataclass
class RotationReport:
    reencrypted: int = 0
    already_current: int = 0
    # (credential id, user id, provider) of rows readable with neither key; left as they are.
    unreadable: list[tuple[int, str, str]] = field(default_factory=list)


@sensitive_variables("old_key", "new_key", "payload")
def credential_rotate_key(*, old_key: str, new_key: str, dry_run: bool = False) -> RotationReport:
    """Re-encrypt every stored key from ``old_key`` to ``new_key`` (both FIELD_ENCRYPTION_KEY values).

    Rows already readable with ``new_key`` are counted and skipped, so a second
    run (or a run after a partial one) is harmless. One transaction; rows are
    locked while it runs. The decrypted payload is re-encrypted as it is: it is
    never unpickled or shown.
    """
    old, new = cipher_for(old_key), cipher_for(new_key)
    report = RotationReport()
    with transaction.atomic():
        rows = (
            UserCredential.objects.select_for_update()
            # Cast: the raw stored bytes, not the field's (decrypting) value.
            .annotate(stored=Cast("api_key", output_field=BinaryField()))
            .order_by("pk")
            .values_list("pk", "user_id", "provider", "stored")
        )
        for pk, user_id, provider, stored in rows:
            token = bytes(stored)
            if is_readable(token, new):
                report.already_current += 1
                continue
            try:
                payload = old.decrypt(token)
            except Exception:
                report.unreadable.append((pk, user_id, provider))
                continue
            if not dry_run:
                UserCredential.objects.filter(pk=pk).update(api_key=Ciphertext(new.encrypt(payload)))
            report.reencrypted += 1
    return report
