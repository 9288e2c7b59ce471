"""Bot latency: a user's message in → the personality's webhook message out.

The real bot (discord.py client, Redis, PostgreSQL) runs against the loopback
fake Discord (REST + gateway) and an instant backend: the loopback fake of the
Tzurot API, which answers every job at once. So the figures are the bot's own
cost (gateway event → dedup → triggers → history → generate + poll → webhook
execute), not generation time.

    .venv/bin/python bench/bot_latency.py [--messages 300] [--channels 50] [--rounds 10] [--backend fake|real]

``--backend real`` puts the real stack behind the bot instead of the fake
API: a uvicorn process running the project, a Celery worker process, and the
loopback fake LLM provider answering at once (so the figures then include the
API, Redis, PostgreSQL and the worker).

Two scenarios:

* sequential: one channel, one message at a time, ``--messages`` times;
* concurrent: ``--channels`` channels each get a message at the same moment,
  ``--rounds`` times.

Latency is measured from just before the fake gateway sends MESSAGE_CREATE to
the moment the fake Discord receives the webhook execution, both in the
fakes' process: the fakes and the driver run in a process of their own, so
they do not compete with the bot for its interpreter lock. Starts its own
PostgreSQL and Valkey unless DATABASE_URL / REDIS_URL are set.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def report(name: str, latencies: list[float]) -> None:
    ms = [v * 1000 for v in latencies]
    print(
        f"{name}: n={len(ms)} p50={percentile(ms, 0.5):.1f} ms p99={percentile(ms, 0.99):.1f} ms "
        f"mean={statistics.mean(ms):.1f} ms max={max(ms):.1f} ms"
    )


class Driver:
    """Posts user messages through the fake gateway and times their webhook answers."""

    def __init__(self, discord: object) -> None:
        from tests.fakes.discord_server import Execution, FakeDiscord

        assert isinstance(discord, FakeDiscord)
        self.discord = discord
        self._sent: dict[str, float] = {}
        self._done: dict[str, threading.Event] = {}
        self.latency: dict[str, float] = {}
        self._lock = threading.Lock()

        def on_execution(execution: Execution) -> None:
            key = (execution.content or "").removeprefix("Echo: ")
            with self._lock:
                if key in self._sent and key not in self.latency:
                    self.latency[key] = execution.at - self._sent[key]
                    self._done[key].set()

        discord.on_execution = on_execution

    def post(self, channel: str, user: str, text: str) -> threading.Event:
        with self._lock:
            self._done[text] = threading.Event()
            self._sent[text] = time.monotonic()
        self.discord.post_message(channel, user, text)
        return self._done[text]


def run_scenarios(driver: Driver, channels: list[str], user: str, args: argparse.Namespace) -> None:
    # Warm-up: every channel gets its webhook, connections and caches are made.
    warm = [driver.post(channel, user, f"@Alice warm-up {index}") for index, channel in enumerate(channels)]
    for event in warm:
        if not event.wait(30):
            raise SystemExit("warm-up message got no answer")

    sequential: list[float] = []
    for index in range(args.messages):
        text = f"@Alice sequential message {index}"
        if not driver.post(channels[0], user, text).wait(30):
            raise SystemExit(f"no answer to {text!r}")
        sequential.append(driver.latency[text])
    report("sequential, 1 channel", sequential)

    concurrent: list[float] = []
    for round_number in range(args.rounds):
        texts = [f"@Alice round {round_number} channel {index}" for index in range(len(channels))]
        events = [driver.post(channel, user, text) for channel, text in zip(channels, texts, strict=True)]
        for text, event in zip(texts, events, strict=True):
            if not event.wait(60):
                raise SystemExit(f"no answer to {text!r}")
            concurrent.append(driver.latency[text])
    report(f"concurrent, {len(channels)} channels at once", concurrent)


def _echo_users_message(body: dict) -> str:  # type: ignore[type-arg]
    # The pipeline sends "<user name>: <message>"; answer "Echo: <message>".
    return "Echo: " + str(body["messages"][-1]["content"]).split(": ", 1)[-1]


def fakes_process(connection: Connection, args: argparse.Namespace) -> None:
    """The fakes (Discord; the API or the LLM provider) and the driver, in their own process.

    A process of their own, so they share no interpreter lock with the bot.
    """
    from tests.fakes.discord_server import FakeDiscord
    from tests.fakes.openai_server import FakeOpenAI
    from tests.fakes.tzurot_api import FakeTzurotApi, personality

    with FakeDiscord() as discord, FakeTzurotApi() as api, FakeOpenAI() as provider:
        api.personalities = [personality("alice", "Alice"), personality("bob", "Bob")]
        provider.reply_text = _echo_users_message
        guild = discord.add_guild("Bench")
        channels = [discord.add_channel(guild, f"channel-{i}") for i in range(args.channels)]
        user = discord.add_user("Bencher", guild)
        connection.send(
            {
                "discord_token": discord.token,
                "discord_api_base_url": discord.base_url,
                "discord_gateway_url": discord.gateway_url,
                "api_url": api.base_url,
                "api_token": api.token,
                "llm_base_url": provider.base_url,
            }
        )
        connection.recv()  # the bot is ready
        run_scenarios(Driver(discord), channels, user, args)
        connection.send("done")


def start_real_backend(llm_base_url: str, memory: bool) -> tuple[list[subprocess.Popen[bytes]], str, str]:
    """Migrated database, two personalities, a service token, uvicorn and a Celery worker."""
    from gateway.services import token_create
    from personalities_app.models import Personality
    from tzurot_project.embedded import free_port

    for slug, name in (("alice", "Alice"), ("bob", "Bob")):
        Personality.objects.update_or_create(slug=slug, defaults={"name": name, "memory_enabled": memory})
    _, token = token_create(name="bench-bot", is_service=True)
    port = free_port()
    env = {**os.environ, "LLM_BASE_URL": llm_base_url, "LLM_API_KEY": "sk-bench", "PYTHONUNBUFFERED": "1"}
    log = open(Path(os.environ["TZUROT_VAR_DIR"]) / "backend.log", "ab")  # noqa: SIM115 - lives with them
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "tzurot_project.asgi:application",
                "--port",
                str(port),
                "--lifespan",
                "off",
                "--no-access-log",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tzurot_project",
                "worker",
                "--loglevel",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        ),
    ]
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.3)
    else:
        raise SystemExit("the real backend did not become healthy; see backend.log")
    return processes, url, token


async def main(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from botclient.bot import build_bot
    from botclient.config import BotConfig

    await asyncio.to_thread(call_command, "migrate", verbosity=0)
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    fakes = context.Process(target=fakes_process, args=(theirs, args), name="bench-fakes")
    fakes.start()
    backend: list[subprocess.Popen[bytes]] = []
    try:
        endpoints = await asyncio.to_thread(ours.recv)
        llm_base_url = endpoints.pop("llm_base_url")
        if args.backend == "real":
            backend, endpoints["api_url"], endpoints["api_token"] = await asyncio.to_thread(
                start_real_backend, llm_base_url, args.memory == "on"
            )
        config = BotConfig(
            redis_url=settings.REDIS_URL,
            sync_commands=False,
            history_limit=args.history,
            **endpoints,
        )
        bot = build_bot(config, guild_ready_timeout=0.05)
        task = asyncio.create_task(bot.start(config.discord_token))
        while not bot.is_ready():
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        try:
            ours.send("ready")
            await asyncio.to_thread(ours.recv)
        finally:
            await bot.close()
            await task
    finally:
        for process in backend:
            process.terminate()
            process.wait(20)
        fakes.join(30)
        if fakes.is_alive():
            fakes.terminate()


def with_servers(args: argparse.Namespace) -> None:
    from tzurot_project.embedded import EmbeddedServers, free_port

    root: Path | None = None
    servers = None
    need_pg, need_redis = not os.environ.get("DATABASE_URL"), not os.environ.get("REDIS_URL")
    if need_pg or need_redis:
        root = Path(tempfile.mkdtemp(prefix="tzurot-bench-"))
        root.chmod(0o755)  # as root, PostgreSQL runs as its own user and must reach its data
        servers = EmbeddedServers(
            root / "servers",
            postgres=(free_port(), secrets.token_hex(16)) if need_pg else None,
            redis=(free_port(), secrets.token_hex(16)) if need_redis else None,
            persist=False,
        )
        servers.start()
        if servers.postgres:
            os.environ["DATABASE_URL"] = servers.postgres.url
        if servers.redis:
            os.environ["REDIS_URL"] = servers.redis.url
        os.environ.setdefault("TZUROT_VAR_DIR", str(root / "var"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tzurot_project.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    try:
        asyncio.run(main(args))
    finally:
        if servers is not None:
            servers.stop()
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=300, help="sequential messages in one channel")
    parser.add_argument("--channels", type=int, default=50, help="channels talking at once")
    parser.add_argument("--rounds", type=int, default=10, help="rounds of the concurrent scenario")
    parser.add_argument("--history", type=int, default=20, help="BOT_HISTORY_LIMIT for the bot")
    parser.add_argument(
        "--backend", choices=["fake", "real"], default="fake", help="the API behind the bot (see above)"
    )
    parser.add_argument(
        "--memory", choices=["on", "off"], default="on", help="with --backend real: long-term memory on/off"
    )
    with_servers(parser.parse_args())
