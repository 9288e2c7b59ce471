"""Encryption of stored API keys, driven by ``FIELD_ENCRYPTION_KEY`` alone.

We use django-cryptography-5's encrypted field and its Fernet-style format
(version, timestamp, IV, AES-CBC ciphertext, HMAC-SHA256), but not its default
keys, for two reasons found by reading the package:

* its HMAC key is Django's ``SECRET_KEY``, not ``CRYPTOGRAPHY_KEY``: rotating
  ``SECRET_KEY`` (a routine Django operation) would make every stored key
  unreadable, and a wrong ``FIELD_ENCRYPTION_KEY`` would pass the signature
  check and feed garbage to the decryptor;
* its AES key is derived once, at import time, and written over
  ``settings.CRYPTOGRAPHY_KEY``, so neither a test nor the rotation command
  could use another key in the same process.

Here both the AES key and the HMAC key are derived from ``FIELD_ENCRYPTION_KEY``
(PBKDF2-SHA256, our own salt), read from the settings at each use and cached
per value. A wrong key therefore fails the signature check before anything is
decrypted or unpickled.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django_cryptography.core.signing import FernetSigner
from django_cryptography.fields import encrypt
from django_cryptography.utils.crypto import FernetBytes

_SALT = b"tzurot.credentials.v1"
# The generated key is random (token_urlsafe(48)); the iterations are for an
# operator who picks a memorable one. Derived once per process per key.
_ITERATIONS = 200_000


@lru_cache(maxsize=8)
def cipher_for(secret: str) -> FernetBytes:
    """The cipher for one encryption key (AES-256 key and HMAC key both derived from it)."""
    if not secret:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY is empty; stored API keys cannot be encrypted.")
    material = PBKDF2HMAC(algorithm=hashes.SHA256(), length=64, salt=_SALT, iterations=_ITERATIONS).derive(
        secret.encode()
    )
    return FernetBytes(material[32:], FernetSigner(material[:32], "sha256"))


def current_cipher() -> FernetBytes:
    return cipher_for(settings.FIELD_ENCRYPTION_KEY)


def is_readable(token: bytes, cipher: FernetBytes) -> bool:
    """Whether ``token`` was encrypted under ``cipher``'s key (its signature checks out)."""
    try:
        cipher.decrypt(token)
    except Exception:  # BadSignature, InvalidToken, struct errors: all mean "not this key"
        return False
    return True


class Ciphertext:
    """Stored bytes that were not decrypted. Saved back unchanged, never shown.

    Loading a row whose key cannot be decrypted (wrong ``FIELD_ENCRYPTION_KEY``)
    gives this instead of raising, so listings and the admin keep working; the
    code that needs the key checks for it (``services.credential_resolve``).
    """

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return "<unreadable ciphertext>"

    __str__ = __repr__


class _SettingsCipher:
    """Stands in for the field's fixed cipher: uses the key configured now."""

    def encrypt(self, data: bytes) -> bytes:
        return current_cipher().encrypt(data)

    def decrypt(self, data: bytes, ttl: int | None = None) -> bytes:
        return current_cipher().decrypt(data, ttl)


# The package's encrypted TextField class; we subclass it so that migrations
# name our field (the package rewrites only direct uses into ``encrypt(...)``).
_PackageEncryptedTextField: type[models.TextField] = type(encrypt(models.TextField()))


class EncryptedSecretField(_PackageEncryptedTextField):  # type: ignore[misc, valid-type]
    """A text field stored encrypted under ``FIELD_ENCRYPTION_KEY``.

    Not editable (no form, admin included, ever shows it) and not serialised
    (``dumpdata`` leaves it out rather than writing keys in clear).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("editable", False)
        kwargs.setdefault("serialize", False)
        super().__init__(*args, **kwargs)
        self._fernet = _SettingsCipher()

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        data = bytes(value)
        try:
            return self._load(data)
        except Exception:
            # Decrypting or unpickling failed: keep the bytes, let the caller decide.
            return Ciphertext(data)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if isinstance(value, Ciphertext):
            return connection.Database.Binary(value.data)
        return super().get_db_prep_value(value, connection, prepared)
