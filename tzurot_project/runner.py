"""``make run``: the whole system in one terminal.

Starts the embedded PostgreSQL and Valkey (unless ``DATABASE_URL`` /
``REDIS_URL`` point elsewhere), migrates, bootstraps (admin login, bundled
data), then runs the web server, a Celery worker, Celery beat and, when
``DISCORD_TOKEN`` is set, the Discord bot, each line of output prefixed with
the process's name. Ctrl-C (or SIGTERM) stops every child and then the
embedded servers. If a child dies during start-up the command exits non-zero
and names it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

STARTUP_TIMEOUT = float(os.environ.get("TZUROT_STARTUP_TIMEOUT", "120"))
STOP_GRACE = 15.0
COLOURS = ["\033[36m", "\033[33m", "\033[35m", "\033[32m", "\033[34m", "\033[31m"]
RESET = "\033[0m"

_print_lock = threading.Lock()

# uvicorn processes serving the API (`--workers`); see docs/ARCHITECTURE.md, "Web server".
DEFAULT_WEB_WORKERS = 2


def web_command(python: str, host: str, port: int, workers: int = DEFAULT_WEB_WORKERS) -> list[str]:
    """The web server's command line (also what the benchmarks start)."""
    argv = [
        python,
        "-m",
        "uvicorn",
        "tzurot_project.asgi:application",
        "--host",
        host,
        "--port",
        str(port),
        "--lifespan",
        "off",
        "--no-access-log",
        "--timeout-graceful-shutdown",
        "10",
    ]
    if workers > 1:
        argv += ["--workers", str(workers)]
    return argv


def worker_command(python: str, hostname: str) -> list[str]:
    """A Celery worker's command line; pool and concurrency come from the settings."""
    return [
        python,
        "-m",
        "celery",
        "-A",
        "tzurot_project",
        "worker",
        "--loglevel",
        "INFO",
        "--hostname",
        hostname,
    ]


def say(name: str, line: str, colour: str = "") -> None:
    with _print_lock:
        if colour and sys.stdout.isatty():
            sys.stdout.write(f"{colour}{name:<7}|{RESET} {line}\n")
        else:
            sys.stdout.write(f"{name:<7}| {line}\n")
        sys.stdout.flush()


@dataclass
class Child:
    name: str
    argv: list[str]
    colour: str
    process: subprocess.Popen[bytes] | None = None
    reader: threading.Thread | None = field(default=None, repr=False)

    def start(self, env: dict[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            self.argv,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Its own process group: Ctrl-C reaches only us, and we stop the
            # children in order (web first, servers last).
            start_new_session=True,
        )
        self.reader = threading.Thread(target=self._pump, daemon=True)
        self.reader.start()

    def _pump(self) -> None:
        assert self.process and self.process.stdout
        for raw in iter(self.process.stdout.readline, b""):
            say(self.name, raw.decode(errors="replace").rstrip(), self.colour)

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def signal_group(self, sig: int) -> None:
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)

    def wait(self, timeout: float) -> bool:
        if self.process is None:
            return True
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        if self.reader:
            self.reader.join(2)
        return True


class Runner:
    def __init__(self) -> None:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tzurot_project.settings")
        from tzurot_project.config import load_settings_or_exit

        load_settings_or_exit()
        from django.conf import settings

        self.settings = settings
        self.root = Path(settings.BASE_DIR)
        self.python = sys.executable
        self.host = os.environ.get("TZUROT_HOST", "127.0.0.1")
        self.port = int(os.environ.get("TZUROT_PORT", "8000"))
        self.children: list[Child] = []
        self.servers = None
        self.stopping = threading.Event()

    # -- embedded servers -----------------------------------------------------

    def start_servers(self) -> None:
        from tzurot_project.embedded import EmbeddedError, EmbeddedServers

        s = self.settings
        secrets = self._secrets()
        postgres = (s.EMBEDDED_PG_PORT, secrets["EMBEDDED_DB_PASSWORD"]) if s.EMBEDDED_DATABASE else None
        redis = (s.EMBEDDED_REDIS_PORT, secrets["EMBEDDED_REDIS_PASSWORD"]) if s.EMBEDDED_REDIS else None
        if not postgres and not redis:
            say("run", "using DATABASE_URL and REDIS_URL from the environment")
            return
        self.servers = EmbeddedServers(Path(s.VAR_DIR), postgres=postgres, redis=redis)
        try:
            self.servers.start()
        except EmbeddedError as exc:
            self.servers = None
            raise SystemExit(f"run    | cannot start the embedded servers: {exc}") from None
        if postgres:
            say(
                "run",
                f"embedded PostgreSQL (pgvector) on 127.0.0.1:{s.EMBEDDED_PG_PORT}, data in {s.VAR_DIR}/pg",
            )
        if redis:
            say("run", f"embedded Valkey on 127.0.0.1:{s.EMBEDDED_REDIS_PORT}, data in {s.VAR_DIR}/valkey")

    def _secrets(self) -> dict[str, str]:
        from tzurot_project.settings.env import local_secrets

        return local_secrets(Path(self.settings.VAR_DIR), ("EMBEDDED_DB_PASSWORD", "EMBEDDED_REDIS_PASSWORD"))

    # -- one-off set-up steps ---------------------------------------------------

    def manage(self, *args: str) -> None:
        say("setup", "manage.py " + " ".join(args))
        result = subprocess.run(
            [self.python, "manage.py", *args],
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        for line in result.stdout.decode(errors="replace").splitlines():
            say("setup", line)
        if result.returncode != 0:
            raise SystemExit(
                f"setup  | `manage.py {' '.join(args)}` failed (exit {result.returncode}); see above."
            )

    # -- long-running children -------------------------------------------------

    def plan_children(self) -> list[Child]:
        s = self.settings
        children = [
            Child("web", web_command(self.python, self.host, self.port), COLOURS[0]),
            Child(
                "worker",
                worker_command(self.python, f"worker@{os.uname().nodename}-{os.getpid()}"),
                COLOURS[1],
            ),
            Child(
                "beat",
                [
                    self.python,
                    "-m",
                    "celery",
                    "-A",
                    "tzurot_project",
                    "beat",
                    "--loglevel",
                    "INFO",
                    "--schedule",
                    str(Path(s.VAR_DIR) / "celerybeat-schedule"),
                ],
                COLOURS[2],
            ),
        ]
        if s.DISCORD_TOKEN:
            children.append(Child("bot", [self.python, "manage.py", "runbot"], COLOURS[3]))
        else:
            say(
                "run",
                "DISCORD_TOKEN is not set, so the Discord bot is not started. "
                "Set DISCORD_TOKEN (your bot's token) and run again to start it.",
            )
        return children

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env["DJANGO_SETTINGS_MODULE"] = "tzurot_project.settings"
        return env

    def health(self) -> tuple[bool, str]:
        url = f"http://{self.host}:{self.port}/health"
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                return response.status == 200, response.read().decode()
        except urllib.error.HTTPError as exc:
            return False, exc.read().decode(errors="replace")
        except OSError as exc:
            return False, str(exc)

    def wait_until_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        last = ""
        while time.monotonic() < deadline and not self.stopping.is_set():
            for child in self.children:
                code = child.exited()
                if code is not None:
                    raise SystemExit(
                        f"run    | the {child.name} process exited during start-up (exit code {code}); "
                        "its output is above."
                    )
            ok, last = self.health()
            if ok:
                return
            time.sleep(0.5)
        if not self.stopping.is_set():
            raise SystemExit(f"run    | not healthy after {STARTUP_TIMEOUT:g} s; last /health answer: {last}")

    def banner(self) -> None:
        base = f"http://{self.host}:{self.port}"
        admin_hint = self._admin_hint()
        for line in [
            "",
            "Tzurot is running.",
            f"  API          {base}/   (health: {base}/health)",
            f"  API docs     {base}/api/docs/",
            f"  Admin        {base}/admin/   {admin_hint}",
            "Press Ctrl-C to stop everything.",
            "",
        ]:
            say("run", line)

    def _admin_hint(self) -> str:
        password_file = Path(self.settings.VAR_DIR) / "admin-password"
        if password_file.exists():
            return f"(user: admin, password: in {password_file})"
        return "(log in with your superuser; `python manage.py createsuperuser` makes one)"

    def stop_children(self) -> None:
        for child in reversed(self.children):
            child.signal_group(signal.SIGTERM)
        for child in reversed(self.children):
            if not child.wait(STOP_GRACE):
                say("run", f"{child.name} did not stop within {STOP_GRACE:g} s; killing it")
                child.signal_group(signal.SIGKILL)
                child.wait(5)

    def run(self) -> int:
        def on_signal(signum: int, _frame: object) -> None:
            if not self.stopping.is_set():
                say("run", f"received {signal.Signals(signum).name}; stopping…")
            self.stopping.set()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)

        exit_code = 0
        try:
            self.start_servers()
            self.manage("migrate", "--noinput")
            self.manage("collectstatic", "--noinput", "-v", "0")
            self.manage("bootstrap")
            if self.stopping.is_set():
                return 130
            env = self.child_env()
            self.children = self.plan_children()
            for child in self.children:
                child.start(env, self.root)
            self.wait_until_healthy()
            if not self.stopping.is_set():
                self.banner()
            while not self.stopping.wait(0.5):
                for child in self.children:
                    code = child.exited()
                    if code is not None:
                        say("run", f"the {child.name} process exited (code {code}); stopping everything")
                        exit_code = 1
                        self.stopping.set()
                        break
        except SystemExit as exc:
            if exc.code not in (None, 0):
                say("run", str(exc.code).split("| ", 1)[-1])
                exit_code = 1
        finally:
            self.stop_children()
            if self.servers is not None:
                say("run", "stopping the embedded servers")
                self.servers.stop()
            say("run", "stopped")
        return exit_code


def main() -> None:
    sys.exit(Runner().run())


if __name__ == "__main__":
    main()
