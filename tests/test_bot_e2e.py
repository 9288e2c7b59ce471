"""End to end: a user on (fake) Discord → the real discord.py bot → the API → a webhook message.

The backend is the ``bot_backend`` fixture: here the loopback fake of the API
contract. To run these same flows against the real API, a real worker and the
fake LLM provider, override ``bot_backend`` to return a ``BotBackend`` for that
stack: its URL, a service token, the personalities it serves (named as in
``fake_backend``: Alice with an avatar, Bob shown as "Bob the Builder"), and a
``set_reply`` that programs the fake provider. The assertions below are about
what reaches Discord only.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from botclient.splitting import split_message
from tests.bot_harness import BotBackend, bot_config, eventually, fake_backend, running_bot, settle
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.tzurot_api import FakeTzurotApi

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

LONG_REPLY = "\n\n".join(f"Paragraph {i}. " + "A fairly long sentence goes here. " * 20 for i in range(8))


@pytest.fixture
def bot_backend(fake_tzurot_api: FakeTzurotApi) -> Iterator[BotBackend]:
    yield fake_backend(fake_tzurot_api)


@pytest.fixture
def world(fake_discord: FakeDiscord) -> dict[str, str]:
    guild = fake_discord.add_guild("Tzurot Test")
    return {
        "guild": guild,
        "channel": fake_discord.add_channel(guild, "general"),
        "user": fake_discord.add_user("Carol", guild),
    }


def alice(backend: BotBackend) -> dict[str, object]:
    return next(p for p in backend.personalities if p["name"] == "Alice")


async def test_mention_is_answered_through_a_webhook_as_the_personality(
    fake_discord: FakeDiscord, bot_backend: BotBackend, world: dict[str, str]
) -> None:
    bot_backend.set_reply(lambda message: LONG_REPLY)
    async with running_bot(bot_config(fake_discord, bot_backend)):
        fake_discord.post_message(world["channel"], world["user"], "@Alice tell me a long story")
        expected = split_message(LONG_REPLY)
        assert len(expected) >= 3
        await eventually(lambda: len(fake_discord.executions) >= len(expected), what="the whole reply")
        await settle()  # nothing more: the bot ignores its own webhook messages
    executions = fake_discord.executions
    assert [e.content for e in executions] == expected
    assert all(len(e.content or "") <= 2000 for e in executions)
    assert {e.username for e in executions} == {alice(bot_backend)["name"]}
    assert {e.avatar_url for e in executions} == {alice(bot_backend)["avatar"]}
    assert all(e.allowed_mentions == {"parse": []} for e in executions)
    assert {e.channel_id for e in executions} == {world["channel"]}


async def test_a_reply_to_a_personality_message_routes_back_to_it(
    fake_discord: FakeDiscord, bot_backend: BotBackend, world: dict[str, str]
) -> None:
    bot_backend.set_reply(lambda message: f"You said: {message[:50]}")
    async with running_bot(bot_config(fake_discord, bot_backend)):
        fake_discord.post_message(world["channel"], world["user"], "Bob, hello")
        (first,) = await eventually(lambda: fake_discord.executions, what="Bob's answer")
        # No name in the text: only the reply says who it is for.
        fake_discord.post_message(
            world["channel"], world["user"], "and what else?", reply_to=first.message_id
        )
        await eventually(lambda: len(fake_discord.executions) == 2, what="the answer to the reply")
    second = fake_discord.executions[1]
    assert first.username == second.username == "Bob the Builder"


async def test_the_same_message_dispatched_twice_is_answered_once(
    fake_discord: FakeDiscord, bot_backend: BotBackend, world: dict[str, str], redis_client: redis.Redis
) -> None:
    async with running_bot(bot_config(fake_discord, bot_backend)):
        message = fake_discord.post_message(world["channel"], world["user"], "@Alice once please")
        fake_discord.dispatch("MESSAGE_CREATE", message, guild_id=world["guild"])
        await eventually(lambda: fake_discord.executions, what="the answer")
        # Again after a dropped connection and a resumed session.
        resumes = len(fake_discord.resumes)
        fake_discord.drop_connections()
        await eventually(lambda: len(fake_discord.resumes) > resumes, what="the bot to resume")
        await eventually(lambda: fake_discord.connected_sessions() == 1, what="the session to be back")
        # Past the few seconds in which the same text counts as a repeat: only the id says "seen".
        for key in redis_client.scan_iter("tzurot:bot:burst:*"):
            redis_client.delete(key)
        fake_discord.dispatch("MESSAGE_CREATE", message, guild_id=world["guild"])
        await settle(0.5)
    assert len(fake_discord.executions) == 1


async def test_a_deleted_webhook_is_recreated_and_the_reply_still_arrives(
    fake_discord: FakeDiscord, bot_backend: BotBackend, world: dict[str, str]
) -> None:
    async with running_bot(bot_config(fake_discord, bot_backend)):
        fake_discord.post_message(world["channel"], world["user"], "@Alice first")
        (first,) = await eventually(lambda: fake_discord.executions, what="the first answer")
        fake_discord.delete_webhook(first.webhook_id)  # a moderator removes it: 10015 from now on
        fake_discord.post_message(world["channel"], world["user"], "@Alice second")
        await eventually(lambda: len(fake_discord.executions) == 2, what="the second answer")
    second = fake_discord.executions[1]
    assert second.webhook_id != first.webhook_id
    assert second.username == "Alice"
    assert len(fake_discord.webhooks_created) == 2
    assert len(fake_discord.channel_webhooks(world["channel"])) == 1


async def test_concurrent_first_replies_in_a_new_channel_create_exactly_one_webhook(
    fake_discord: FakeDiscord, bot_backend: BotBackend, world: dict[str, str]
) -> None:
    users = [fake_discord.add_user(f"user{i}", world["guild"]) for i in range(12)]
    fake_discord.webhook_setup_delay = 0.2  # Discord takes its time; every reply is waiting by then
    async with running_bot(bot_config(fake_discord, bot_backend)):
        for index, user in enumerate(users):
            fake_discord.post_message(world["channel"], user, f"@Alice @Bob hello number {index}")
        await eventually(lambda: len(fake_discord.executions) == 24, what="all 24 answers")
    assert len(fake_discord.webhooks_created) == 1
    assert {e.webhook_id for e in fake_discord.executions} == {fake_discord.webhooks_created[0]["id"]}
