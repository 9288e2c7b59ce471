"""``python manage.py runbot`` as a process: start-up, sharding, liveness, clean shutdown on signals."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from botclient.models import DeliveredMessage
from tests.conftest import Process, process_env, wait_for
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.tzurot_api import FakeTzurotApi, personality

# The database mark makes sure the test database exists (the bot process writes to it).
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def runbot(
    tmp_path: Path, discord: FakeDiscord, api: FakeTzurotApi, database_url: str, **env: str
) -> tuple[Process, Path]:
    alive = tmp_path / "alive"
    values = {
        "DISCORD_TOKEN": discord.token,
        "BOT_SERVICE_TOKEN": api.token,
        "TZUROT_API_URL": api.base_url,
        "DISCORD_API_BASE_URL": discord.base_url,
        "DISCORD_GATEWAY_URL": discord.gateway_url,
        "BOT_LIVENESS_FILE": str(alive),
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        **env,
    }
    return Process("runbot", [sys.executable, "manage.py", "runbot"], process_env(**values), tmp_path), alive


def serve_personalities(api: FakeTzurotApi) -> None:
    api.personalities = [personality("alice", "Alice"), personality("bob", "Bob")]


def test_runbot_serves_and_stops_cleanly_on_sigint(
    tmp_path: Path, fake_discord: FakeDiscord, fake_tzurot_api: FakeTzurotApi, test_database_url: str
) -> None:
    serve_personalities(fake_tzurot_api)
    guild = fake_discord.add_guild()
    channel = fake_discord.add_channel(guild)
    user = fake_discord.add_user("Carol", guild)
    bot, alive = runbot(tmp_path, fake_discord, fake_tzurot_api, test_database_url)
    try:
        wait_for(
            lambda: "serving 2 personalities: Alice (alice), Bob (bob)" in bot.output(), 60, "start-up", bot
        )
        wait_for(alive.exists, 30, "the liveness file", bot)
        assert time.time() - alive.stat().st_mtime < 120
        identify = fake_discord.identifies[0]
        assert "shard" not in identify
        # Message content, guilds, guild messages and DMs: nothing privileged beyond content.
        assert identify["intents"] == (1 << 0) | (1 << 9) | (1 << 12) | (1 << 15)
        fake_discord.post_message(channel, user, "@Bob hello from the test")
        wait_for(lambda: fake_discord.executions, 30, "the answer", bot)
        assert fake_discord.executions[0].username == "Bob"
        answer_id = fake_discord.executions[0].message_id
        wait_for(
            lambda: DeliveredMessage.objects.filter(message_id=answer_id).exists(), 30, "the record", bot
        )
        bot.popen.send_signal(signal.SIGINT)
        assert bot.popen.wait(20) == 0
    finally:
        bot.stop()
    output = bot.output()
    assert "Received SIGINT; shutting down" in output and "Tzurot bot stopped" in output
    assert "Traceback" not in output
    assert fake_discord.token not in output and fake_tzurot_api.token not in output


def test_runbot_connects_the_configured_shard_and_stops_on_sigterm(
    tmp_path: Path, fake_discord: FakeDiscord, fake_tzurot_api: FakeTzurotApi, test_database_url: str
) -> None:
    serve_personalities(fake_tzurot_api)
    bot, _ = runbot(
        tmp_path,
        fake_discord,
        fake_tzurot_api,
        test_database_url,
        DISCORD_SHARD_COUNT="2",
        DISCORD_SHARD_IDS="1",
    )
    try:
        wait_for(lambda: fake_discord.identifies, 60, "the IDENTIFY", bot)
        assert fake_discord.identifies[0]["shard"] == [1, 2]
        wait_for(lambda: "Shard ID 1" in bot.output(), 30, "the shard to connect", bot)
        bot.popen.send_signal(signal.SIGTERM)
        assert bot.popen.wait(20) == 0
    finally:
        bot.stop()
    assert "Received SIGTERM; shutting down" in bot.output()


def test_runbot_without_tokens_says_what_is_missing(tmp_path: Path, test_database_url: str) -> None:
    bot = Process(
        "runbot",
        [sys.executable, "manage.py", "runbot"],
        process_env(DISCORD_TOKEN="", BOT_SERVICE_TOKEN="", DATABASE_URL=test_database_url),
        tmp_path,
    )
    try:
        assert bot.popen.wait(60) != 0
    finally:
        bot.stop()
    assert "DISCORD_TOKEN is not set" in bot.output()
    assert "Traceback" not in bot.output()
