"""Reading configuration from the environment.

Every environment read of the project goes through these helpers, so a bad value
fails at start-up with one ``ImproperlyConfigured`` naming the variable, and any
secret can also be given as a file (``NAME_FILE``, as Docker secrets are).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    """The variable's value, else the content of the file named by ``NAME_FILE``."""
    value = os.environ.get(name)
    if value is not None:
        return value
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{name}_FILE points to {file_name!r}, which cannot be read ({exc.strerror})."
            ) from None
    return default


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}.")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = env_str(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}.")
    return number


def env_float(name: str, default: float) -> float:
    value = env_str(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = env_str(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_url(name: str, default: str | None, *, schemes: tuple[str, ...]) -> str | None:
    """A URL whose scheme is one of ``schemes`` and which names a host or socket."""
    value = env_str(name)
    if value is None or value == "":
        return default
    parts = urlsplit(value)
    if parts.scheme not in schemes or not (parts.netloc or parts.path):
        allowed = ", ".join(f"{scheme}://" for scheme in schemes)
        # The value may hold a password: name the variable, never echo it.
        raise ImproperlyConfigured(f"{name} is not a valid URL: it must start with {allowed}.")
    return value


def require(name: str, value: str | None) -> str:
    if not value:
        raise ImproperlyConfigured(f"{name} is required in production mode and is not set.")
    return value


def local_secrets(var_dir: Path, names: tuple[str, ...]) -> dict[str, str]:
    """Secrets for the embedded default: generated once, then kept in ``var/secrets.json``.

    The file is written with mode 0600 so only the running user can read it.
    """
    path = var_dir / "secrets.json"
    var_dir.mkdir(parents=True, exist_ok=True)
    # Several processes start at once (web, worker, beat): the lock makes sure
    # they all end up with the same generated secrets.
    with open(var_dir / "secrets.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stored: dict[str, str] = {}
        if path.exists():
            try:
                stored = json.loads(path.read_text())
            except ValueError:
                raise ImproperlyConfigured(f"{path} is not valid JSON; fix or delete it.") from None
        missing = [name for name in names if not stored.get(name)]
        if missing:
            for name in missing:
                stored[name] = secrets.token_urlsafe(48)
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(stored, handle, indent=2)
            os.replace(tmp, path)
    return stored
