"""rotate_credentials_key: old key to new key, re-runnable, honest about what it could not read."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from credentials.services import CredentialUnreadable, credential_resolve, credential_set

from .conftest import new_key

pytestmark = pytest.mark.django_db

OLD = "the-old-field-encryption-key-0123456789"
NEW = "the-new-field-encryption-key-9876543210"


def rotate(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("rotate_credentials_key", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue().strip()


def stored() -> dict[int, bytes]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, api_key FROM credentials_usercredential")
        return {pk: bytes(blob) for pk, blob in cursor.fetchall()}


@pytest.fixture
def users_keys(settings) -> dict[str, str]:
    settings.FIELD_ENCRYPTION_KEY = OLD
    keys = {str(user): new_key() for user in range(100, 105)}
    for user, key in keys.items():
        credential_set(user_id=user, provider="openai", api_key=key, verify=False)
    return keys


def test_rotation_moves_every_key_to_the_new_key_and_a_rerun_finds_all_current(
    settings, users_keys: dict[str, str], tmp_path: Path
) -> None:
    old_file = tmp_path / "old"
    old_file.write_text(OLD + "\n")
    out, err = rotate("--old-key-file", str(old_file), "--new-key", NEW)
    assert out == "5 re-encrypted, 0 already current, 0 unreadable."
    assert err == ""

    settings.FIELD_ENCRYPTION_KEY = NEW
    for user, key in users_keys.items():
        assert credential_resolve(user_id=user).api_key == key

    # Run again, now with the new key configured (the default for --new-key).
    out, _ = rotate("--old-key", OLD)
    assert out == "0 re-encrypted, 5 already current, 0 unreadable."

    settings.FIELD_ENCRYPTION_KEY = OLD
    with pytest.raises(CredentialUnreadable):
        credential_resolve(user_id="100")


def test_dry_run_writes_nothing(settings, users_keys: dict[str, str]) -> None:
    before = stored()
    out, _ = rotate("--old-key", OLD, "--new-key", NEW, "--dry-run")
    assert out == "5 would be re-encrypted, 0 already current, 0 unreadable. Dry run: nothing was written."
    assert stored() == before
    assert credential_resolve(user_id="100").api_key == users_keys["100"]


def test_rows_readable_with_neither_key_are_reported_and_left_alone(
    settings, users_keys: dict[str, str]
) -> None:
    settings.FIELD_ENCRYPTION_KEY = "some-third-key-nobody-remembers"
    stray_key = new_key()
    stray = credential_set(user_id="999", provider="openrouter", api_key=stray_key, verify=False)
    stray_bytes = stored()[stray.pk]

    out, err = rotate("--old-key", OLD, "--new-key", NEW)
    assert out == "5 re-encrypted, 0 already current, 1 unreadable."
    assert err == f"credential {stray.pk} (user 999, openrouter): readable with neither key; left as it is."
    assert stray_key not in out + err and OLD not in out + err and NEW not in out + err
    assert stored()[stray.pk] == stray_bytes

    settings.FIELD_ENCRYPTION_KEY = NEW
    assert credential_resolve(user_id="104").api_key == users_keys["104"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Give the previous key"),
        (["--old-key", OLD, "--new-key", OLD], "are the same"),
        (["--old-key", OLD, "--old-key-file", "/nonexistent"], "not both"),
        (["--old-key-file", "/nonexistent/old-key"], "cannot be read"),
    ],
)
def test_bad_arguments_are_refused_clearly(settings, args: list[str], message: str) -> None:
    settings.FIELD_ENCRYPTION_KEY = NEW
    with pytest.raises(CommandError, match=message):
        rotate(*args)
