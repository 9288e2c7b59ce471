"""The embedded servers: data survives a restart, a second start refuses clearly."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from tzurot_project.embedded import AlreadyRunning, EmbeddedServers, free_port


@pytest.fixture
def var_dir() -> Iterator[Path]:
    # Not pytest's tmp_path: as root, PostgreSQL's own user must be able to enter it.
    with tempfile.TemporaryDirectory(prefix="tzurot-emb-") as name:
        Path(name).chmod(0o755)
        yield Path(name) / "var"


def servers(var_dir: Path, pg_port: int, redis_port: int) -> EmbeddedServers:
    return EmbeddedServers(var_dir, postgres=(pg_port, "pg-secret"), redis=(redis_port, "redis-secret"))


def test_data_survives_a_restart(var_dir: Path) -> None:
    pg_port, redis_port = free_port(), free_port()
    with servers(var_dir, pg_port, redis_port) as first:
        with psycopg.connect(first.postgres.url, autocommit=True) as conn:  # type: ignore[union-attr]
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            conn.execute("CREATE TABLE kept (v vector(3))")
            conn.execute("INSERT INTO kept VALUES ('[1,2,3]')")
        client = redis.Redis.from_url(first.redis.url)  # type: ignore[union-attr]
        client.set("kept", "yes")
        client.close()

    with servers(var_dir, pg_port, redis_port) as second:
        with psycopg.connect(second.postgres.url) as conn:  # type: ignore[union-attr]
            assert conn.execute("SELECT v::text FROM kept").fetchone() == ("[1,2,3]",)
        client = redis.Redis.from_url(second.redis.url)  # type: ignore[union-attr]
        assert client.get("kept") == b"yes"
        client.close()


def test_second_start_on_the_same_data_refuses_and_leaves_the_first_working(var_dir: Path) -> None:
    pg_port, redis_port = free_port(), free_port()
    with servers(var_dir, pg_port, redis_port) as first:
        with pytest.raises(AlreadyRunning, match="already in use by pid"):
            servers(var_dir, free_port(), free_port()).start()
        with psycopg.connect(first.postgres.url) as conn:  # type: ignore[union-attr]
            assert conn.execute("SELECT 1").fetchone() == (1,)
        client = redis.Redis.from_url(first.redis.url)  # type: ignore[union-attr]
        assert client.ping()
        client.close()


def test_servers_require_their_password(var_dir: Path) -> None:
    pg_port, redis_port = free_port(), free_port()
    with servers(var_dir, pg_port, redis_port):
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(f"postgresql://tzurot:wrong@127.0.0.1:{pg_port}/tzurot").close()
        client = redis.Redis(port=redis_port)
        with pytest.raises(redis.AuthenticationError):
            client.ping()
        client.close()
