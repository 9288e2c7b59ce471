"""pytest plugin: real PostgreSQL (pgvector) and Valkey for the test session.

It runs before pytest-django loads the settings, so that ``DATABASE_URL`` and
``REDIS_URL`` point at servers started here, under a temporary directory, on
free ports. Set ``DATABASE_URL`` / ``REDIS_URL`` yourself to test against
servers of your own instead. Everything started here is stopped at the end.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Generator
from pathlib import Path

import pytest

from tzurot_project.embedded import EmbeddedServers, free_port

_servers: EmbeddedServers | None = None
_root: Path | None = None


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: object, args: list[str]
) -> Generator[None]:
    global _servers, _root
    # World-traversable, because as root PostgreSQL runs as its own system user.
    _root = Path(tempfile.mkdtemp(prefix="tzurot-test-"))
    _root.chmod(0o755)
    os.environ["TZUROT_VAR_DIR"] = str(_root / "var")
    need_pg = not os.environ.get("DATABASE_URL")
    need_redis = not os.environ.get("REDIS_URL")
    if need_pg or need_redis:
        _servers = EmbeddedServers(
            _root / "servers",
            postgres=(free_port(), secrets.token_hex(16)) if need_pg else None,
            redis=(free_port(), secrets.token_hex(16)) if need_redis else None,
            persist=False,
        )
        _servers.start()
        if _servers.postgres:
            os.environ["DATABASE_URL"] = _servers.postgres.url
        if _servers.redis:
            os.environ["REDIS_URL"] = _servers.redis.url
    return (yield)


def pytest_unconfigure(config: pytest.Config) -> None:
    global _servers
    if _servers is not None:
        _servers.stop()
        _servers = None
    if _root is not None:
        shutil.rmtree(_root, ignore_errors=True)
