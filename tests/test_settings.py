"""Configuration from the environment: bad values stop start-up with a clear message."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tzurot_project.settings.env import local_secrets

from .conftest import ROOT, process_env

PRODUCTION = {
    "TZUROT_MODE": "production",
    "SECRET_KEY": "x" * 50,
    "FIELD_ENCRYPTION_KEY": "y" * 50,
    "ALLOWED_HOSTS": "example.org",
    "DATABASE_URL": "postgresql://u:p@127.0.0.1:1/db",
    "REDIS_URL": "redis://127.0.0.1:1/0",
}


def manage_check(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = process_env(TZUROT_VAR_DIR=str(tmp_path / "var"), **env)
    for name, value in list(full.items()):
        if value == "":
            del full[name]
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=full, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("DATABASE_URL", "nonsense", "DATABASE_URL is not a valid URL"),
        ("REDIS_URL", "http://wrong", "REDIS_URL is not a valid URL"),
        ("SECRET_KEY", "", "SECRET_KEY is required in production mode"),
        ("FIELD_ENCRYPTION_KEY", "", "FIELD_ENCRYPTION_KEY is required in production mode"),
        ("ALLOWED_HOSTS", "", "ALLOWED_HOSTS is required"),
        ("DEBUG", "maybe", "DEBUG must be true or false"),
        ("LLM_BASE_URL", "ftp://x", "LLM_BASE_URL is not a valid URL"),
        ("TZUROT_EMBEDDED_PG_PORT", "abc", "TZUROT_EMBEDDED_PG_PORT must be a whole number"),
    ],
)
def test_malformed_setting_in_production_names_it_without_traceback(
    tmp_path: Path, name: str, value: str, expected: str
) -> None:
    result = manage_check(tmp_path, **{**PRODUCTION, name: value})
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    # A URL may carry a password: the bad value itself is not echoed.
    if name.endswith("_URL"):
        assert value not in result.stderr


def test_valid_production_settings_pass_the_check(tmp_path: Path) -> None:
    result = manage_check(tmp_path, **PRODUCTION)
    assert result.returncode == 0, result.stderr


def test_secret_can_come_from_a_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("z" * 40 + "\n")
    result = manage_check(tmp_path, **{**PRODUCTION, "SECRET_KEY": "", "SECRET_KEY_FILE": str(secret_file)})
    assert result.returncode == 0, result.stderr


def test_unreadable_secret_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    result = manage_check(tmp_path, **{**PRODUCTION, "SECRET_KEY": "", "SECRET_KEY_FILE": str(missing)})
    assert result.returncode == 2
    assert "SECRET_KEY_FILE" in result.stderr


def test_embedded_secrets_are_generated_once_and_kept(tmp_path: Path) -> None:
    first = local_secrets(tmp_path, ("SECRET_KEY", "FIELD_ENCRYPTION_KEY"))
    second = local_secrets(tmp_path, ("SECRET_KEY", "FIELD_ENCRYPTION_KEY"))
    assert first == second
    assert len(first["SECRET_KEY"]) >= 50
    stored = tmp_path / "secrets.json"
    assert json.loads(stored.read_text()) == first
    assert stored.stat().st_mode & 0o077 == 0, "secrets file must be private to its owner"
