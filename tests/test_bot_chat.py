"""Conversations through the real bot and the fake Discord: triggers, context, delivery, fallbacks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis

from botclient.api import RetryPolicy, TzurotApi
from botclient.models import DeliveredMessage
from tests.bot_harness import BotBackend, bot_config, eventually, fake_backend, running_bot, settle
from tests.fakes.discord_server import MANAGE_WEBHOOKS, FakeDiscord
from tests.fakes.tzurot_api import FakeTzurotApi, JobPlan, personality

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def backend(fake_tzurot_api: FakeTzurotApi) -> BotBackend:
    return fake_backend(fake_tzurot_api)


@pytest.fixture
def world(fake_discord: FakeDiscord) -> dict[str, str]:
    guild = fake_discord.add_guild("Guild")
    channel = fake_discord.add_channel(guild, "general")
    return {
        "guild": guild,
        "channel": channel,
        "thread": fake_discord.add_thread(channel, "a thread"),
        "user": fake_discord.add_user("Carol", guild),
        "other": fake_discord.add_user("Dave", guild),
    }


def plan_by_personality(api: FakeTzurotApi, plans: dict[str, JobPlan]) -> None:
    api.plan = lambda body: plans.get(body["personality"], JobPlan(content=f"Echo: {body['message']}"))


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


# -- delivery ------------------------------------------------------------------------------------------


async def test_replies_arrive_in_trigger_order_though_generated_at_once(
    fake_discord: FakeDiscord, backend: BotBackend, fake_tzurot_api: FakeTzurotApi, world: dict[str, str]
) -> None:
    plan_by_personality(
        fake_tzurot_api,
        {"bob": JobPlan(content="Bob, slow", delay=1.0), "alice": JobPlan(content="Alice, fast")},
    )
    async with running_bot(bot_config(fake_discord, backend)) as bot:
        bot.responder.typing_interval = 0.05
        fake_discord.post_message(world["channel"], world["user"], "@Bob and @Alice: who is first?")
        await eventually(lambda: len(fake_discord.executions) == 2, what="both answers")
    assert [e.content for e in fake_discord.executions] == ["Bob, slow", "Alice, fast"]
    generated = [c.at for c in fake_tzurot_api.calls("POST", "/ai/generate")]
    assert max(generated) - min(generated) < 0.5  # both asked at once, not after Bob's 1 s
    typing = [t for c, t in fake_discord.typing if c == world["channel"]]
    assert len(typing) >= 3  # refreshed while waiting


async def test_a_failed_generation_answers_with_the_error_message_code_and_key_hint(
    fake_discord: FakeDiscord, backend: BotBackend, fake_tzurot_api: FakeTzurotApi, world: dict[str, str]
) -> None:
    fake_tzurot_api.plan = lambda body: JobPlan(error_code="invalid_api_key", error_message="Bad key.")
    async with running_bot(bot_config(fake_discord, backend)):
        fake_discord.post_message(world["channel"], world["user"], "Alice, hi")
        (answer,) = await eventually(lambda: fake_discord.executions, what="the error answer")
    assert answer.username == "Alice"
    assert answer.content is not None
    assert answer.content.startswith("Alice is lost for words. (error: invalid_api_key)")
    assert "/tz key set" in answer.content


async def test_an_unreachable_backend_gets_a_try_again_message_after_backoff(
    fake_discord: FakeDiscord, backend: BotBackend, fake_tzurot_api: FakeTzurotApi, world: dict[str, str]
) -> None:
    sleep = RecordingSleep()
    api = TzurotApi(backend.url, backend.token, sleep=sleep, rng=lambda: 1.0, retry=RetryPolicy(attempts=4))
    async with running_bot(bot_config(fake_discord, backend), api=api):
        fake_tzurot_api.fail_next("/ai/generate", count=4, status=503)
        fake_discord.post_message(world["channel"], world["user"], "@Alice are you there?")
        (answer,) = await eventually(lambda: fake_discord.executions, what="the apology")
    assert answer.content is not None
    assert "try again shortly" in answer.content and "(error: backend_unavailable)" in answer.content
    assert sleep.delays == [0.5, 1.0, 2.0]


async def test_a_429_from_discord_is_waited_out_and_the_reply_arrives(
    fake_discord: FakeDiscord, backend: BotBackend, world: dict[str, str]
) -> None:
    fake_discord.fail("POST", r"/webhooks/\d+/", status=429, retry_after=0.05)
    async with running_bot(bot_config(fake_discord, backend)):
        fake_discord.post_message(world["channel"], world["user"], "@Alice hi")
        await eventually(lambda: fake_discord.executions, what="the answer after the 429")
    attempts = [c for c in fake_discord.rest_calls if c[0] == "POST" and "/webhooks/" in c[1]]
    assert len(attempts) == 2


async def test_threads_use_the_parent_webhook_with_thread_id(
    fake_discord: FakeDiscord, backend: BotBackend, fake_tzurot_api: FakeTzurotApi, world: dict[str, str]
) -> None:
    forum = fake_discord.add_channel(world["guild"], "forum", kind=15)
    post = fake_discord.add_thread(forum, "a forum post")
    async with running_bot(bot_config(fake_discord, backend)):
        fake_discord.post_message(world["thread"], world["user"], "@Alice in a thread")
        fake_discord.post_message(post, world["user"], "@Alice in a forum post")
        await eventually(lambda: len(fake_discord.executions) == 2, what="both answers")
    by_thread = {e.thread_id: e for e in fake_discord.executions}
    assert by_thread[world["thread"]].channel_id == world["channel"]
    assert by_thread[post].channel_id == forum
    assert {w["channel_id"] for w in fake_discord.webhooks_created} == {world["channel"], forum}
    contexts = [g["context"] for g in fake_tzurot_api.generations()]
    assert {(c["channel_id"], c["thread_id"]) for c in contexts} == {
        (world["channel"], world["thread"]),
        (forum, post),
    }


# -- webhook trouble: plain replies --------------------------------------------------------------------


async def test_without_manage_webhooks_replies_are_plain_and_moderators_are_told_once(
    fake_discord: FakeDiscord, backend: BotBackend, world: dict[str, str]
) -> None:
    locked = fake_discord.add_channel(world["guild"], "locked", deny_bot=MANAGE_WEBHOOKS)
    async with running_bot(bot_config(fake_discord, backend)):
        fake_discord.post_message(locked, world["user"], "@Alice hello")
        await eventually(lambda: len(fake_discord.bot_messages) == 2, what="notice and answer")
        fake_discord.post_message(locked, world["user"], "@Alice again")
        await eventually(lambda: len(fake_discord.bot_messages) == 3, what="the second answer")
        await settle()
    notice, first, second = (m["content"] for m in fake_discord.bot_messages)
    assert "Manage Webhooks" in notice
    assert first == "**Alice:** Echo: @Alice hello"
    assert second == "**Alice:** Echo: @Alice again"
    assert all(m["allowed_mentions"] == {"parse": []} for m in fake_discord.bot_messages)
    assert fake_discord.executions == []


async def test_at_the_webhook_limit_replies_are_plain(
    fake_discord: FakeDiscord, backend: BotBackend, world: dict[str, str]
) -> None:
    fake_discord.add_foreign_webhooks(world["channel"], 15)
    async with running_bot(bot_config(fake_discord, backend)):
        fake_discord.post_message(world["channel"], world["user"], "@Bob hi")
        await eventually(lambda: len(fake_discord.bot_messages) == 2, what="notice and answer")
    notice, answer = (m["content"] for m in fake_discord.bot_messages)
    assert "15 webhooks" in notice
    assert answer.startswith("**Bob the Builder:** ")
    assert fake_discord.webhooks_created == []


async def test_discord_refusing_the_webhook_with_50013_falls_back_to_plain(
    fake_discord: FakeDiscord, backend: BotBackend, world: dict[str, str]
) -> None:
    fake_discord.fail(
        "POST", r"/channels/\d+/webhooks", status=403, code=50013, message="Missing Permissions"
    )
    async with running_bot(bot_config(fake_discord, backend)):
        fake_discord.post_message(world["channel"], world["user"], "@Alice hi")
        await eventually(lambda: len(fake_discord.bot_messages) == 2, what="notice and answer")
    assert fake_discord.bot_messages[1]["content"] == "**Alice:** Echo: @Alice hi"


async def test_an_existing_bot_webhook_is_reused_after_a_restart(
    fake_discord: FakeDiscord, backend: BotBackend, world: dict[str, str]
) -> None:
    for attempt in range(2):
        async with running_bot(bot_config(fake_discord, backend)):
            fake_discord.post_message(world["channel"], world["user"], f"@Alice run {attempt}")
            await eventually(lambda n=attempt: len(fake_discord.executions) == n + 1, what="the answer")
    assert len(fake_discord.webhooks_created) == 1


# -- triggers ------------------------------------------------------------------------------------------------


async def test_bots_webhooks_and_unaddressed_messages_are_ignored(
    fake_discord: FakeDiscord, backend: BotBackend, fake_tzurot_api: FakeTzurotApi, world: dict[str, str]
) -> None:
    other_bot = fake_discord.add_user("OtherBot", world["guild"])
    fake_discord.users[other_bot]["bot"] = True
    async with running_bot(bot_config(fake_discord, backend)):
        fake_discord.post_message(world["channel"], other_bot, "@Alice from a bot")
        webhook_message = fake_discord.post_message(world["channel"], world["user"], "@Alice", dispatch=False)
        webhook_message = {**webhook_message, "id": fake_discord.snowflake(), "webhook_id": "1234"}
        fake_discord.dispatch("MESSAGE_CREATE", webhook_message, guild_id=world["guild"])
        system = fake_discord.post_message(world["channel"], world["user"], "@Alice", dispatch=False)
        fake_discord.dispatch(
            "MESSAGE_CREATE", {**system, "id": fake_discord.snowflake(), "type": 7}, guild_id=world["guild"]
        )
        fake_discord.post_message(world["channel"], world["user"], "I talk about Alice but not to her")
        await settle(0.5)
    assert fake_tzurot_api.generations() == []
    assert fake_discord.executions == []


async def test_the_same_text_twice_in_a_few_seconds_is_answered_once(
    fake_discord: FakeDiscord, backend: BotBackend, world: dict[str, str]
) -> None:
    async with running_bot(bot_config(fake_discord, backend)):
        fake_discord.post_message(world["channel"], world["user"], "@Alice hi!")
        fake_discord.post_message(world["channel"], world["user"], "@Alice hi!")  # a new message, same text
        fake_discord.post_message(world["channel"], world["other"], "@Alice hi!")  # someone else: answered
        await eventually(lambda: len(fake_discord.executions) == 2, what="two answers")
        await settle()
    assert len(fake_discord.executions) == 2


async def test_the_number_of_personalities_per_message_is_capped(
    fake_discord: FakeDiscord, backend: BotBackend, fake_tzurot_api: FakeTzurotApi, world: dict[str, str]
) -> None:
    async with running_bot(bot_config(fake_discord, backend, max_personalities=2)):
        fake_discord.post_message(world["channel"], world["user"], "@Jekyll @Bob @Alice all of you")
        await eventually(lambda: len(fake_discord.executions) == 2, what="two answers")
        await settle()
    assert [e.username for e in fake_discord.executions] == ["Dr Jekyll", "Bob the Builder"]


async def test_activated_personality_answers_everything_and_threads_inherit(
    fake_discord: FakeDiscord, backend: BotBackend, fake_tzurot_api: FakeTzurotApi, world: dict[str, str]
) -> None:
    fake_tzurot_api.activations[world["channel"]] = {"channel_id": world["channel"], "personality": "bob"}
    async with running_bot(bot_config(fake_discord, backend)):
        fake_discord.post_message(world["channel"], world["user"], "no name at all")
        fake_discord.post_message(world["thread"], world["user"], "in the thread")
        fake_discord.post_message(world["channel"], world["other"], "@Alice only you")  # explicit wins
        await eventually(lambda: len(fake_discord.executions) == 3, what="three answers")
    by_content = {e.content: e.username for e in fake_discord.executions}
    assert by_content == {
        "Echo: no name at all": "Bob the Builder",
        "Echo: in the thread": "Bob the Builder",
        "Echo: @Alice only you": "Alice",
    }


async def test_reply_routing_falls_back_to_the_database(
    fake_discord: FakeDiscord, backend: BotBackend, world: dict[str, str], redis_client: redis.Redis
) -> None:
    async with running_bot(bot_config(fake_discord, backend)):
        fake_discord.post_message(world["channel"], world["user"], "Dr Jekyll, hello")
        (first,) = await eventually(lambda: fake_discord.executions, what="the answer")
        row = None
        for _ in range(200):
            row = await DeliveredMessage.objects.filter(message_id=first.message_id).afirst()
            if row is not None:
                break
            await asyncio.sleep(0.01)
        assert row is not None
        assert (row.personality_slug, row.channel_id) == ("dr-jekyll", world["channel"])
        redis_client.delete(f"tzurot:bot:route:{first.message_id}")  # Redis forgot
        fake_discord.post_message(world["channel"], world["user"], "go on", reply_to=first.message_id)
        await eventually(lambda: len(fake_discord.executions) == 2, what="the answer to the reply")
    assert fake_discord.executions[1].username == "Dr Jekyll"


async def test_dms_keep_a_sticky_session_with_the_last_personality(
    fake_discord: FakeDiscord, backend: BotBackend, fake_tzurot_api: FakeTzurotApi, world: dict[str, str]
) -> None:
    dm = fake_discord.dm_channel(world["user"])
    async with running_bot(bot_config(fake_discord, backend)):
        fake_discord.post_message(dm, world["user"], "hello?")
        await eventually(lambda: len(fake_discord.bot_messages) == 1, what="the hint")
        assert "Who would you like to talk to?" in fake_discord.bot_messages[0]["content"]
        fake_discord.post_message(dm, world["user"], "Bob, hi")
        await eventually(lambda: len(fake_discord.bot_messages) == 2, what="Bob")
        fake_discord.post_message(dm, world["user"], "and now without a name")
        await eventually(lambda: len(fake_discord.bot_messages) == 3, what="Bob again")
    contents = [m["content"] for m in fake_discord.bot_messages[1:]]
    assert contents == [
        "**Bob the Builder:** Echo: Bob, hi",
        "**Bob the Builder:** Echo: and now without a name",
    ]
    assert fake_discord.executions == []  # no webhooks in DMs
    assert [g["context"]["guild_id"] for g in fake_tzurot_api.generations()] == [None, None]


async def test_a_dm_without_a_session_uses_the_users_selection(
    fake_discord: FakeDiscord, backend: BotBackend, fake_tzurot_api: FakeTzurotApi, world: dict[str, str]
) -> None:
    fake_tzurot_api.selections[(world["other"], None)] = "alice"
    dm = fake_discord.dm_channel(world["other"])
    async with running_bot(bot_config(fake_discord, backend)):
        fake_discord.post_message(dm, world["other"], "hi there")
        await eventually(lambda: fake_discord.bot_messages, what="Alice")
    assert fake_discord.bot_messages[0]["content"] == "**Alice:** Echo: hi there"


async def test_an_api_key_pasted_in_a_channel_is_deleted_and_never_sent_on(
    fake_discord: FakeDiscord, backend: BotBackend, fake_tzurot_api: FakeTzurotApi, world: dict[str, str]
) -> None:
    async with running_bot(bot_config(fake_discord, backend)):
        pasted = fake_discord.post_message(
            world["channel"], world["user"], "Alice, my key is sk-or-v1-0123456789abcdef0123456789abcdef"
        )
        await eventually(lambda: fake_discord.bot_messages, what="the warning")
    assert fake_discord.deleted_messages == [(world["channel"], pasted["id"])]
    assert "consider that key exposed" in fake_discord.bot_messages[0]["content"]
    assert fake_tzurot_api.generations() == []


# -- context ----------------------------------------------------------------------------------------------


async def test_context_carries_history_reference_attachments_and_names(
    fake_discord: FakeDiscord, backend: BotBackend, fake_tzurot_api: FakeTzurotApi, world: dict[str, str]
) -> None:
    fake_discord.members[world["guild"]][world["user"]]["nick"] = "Caz"
    # Written before the bot started: only Discord's history has these.
    for i in range(3):
        fake_discord.post_message(world["channel"], world["other"], f"old {i}", dispatch=False)
    async with running_bot(bot_config(fake_discord, backend, history_limit=4)):
        question = fake_discord.post_message(world["channel"], world["other"], "What is 2+2?")
        fake_discord.post_message(world["channel"], world["user"], "!tz nonsense-command")
        fake_discord.post_message(
            world["channel"],
            world["user"],
            "@Alice what do you say?",
            reply_to=question["id"],
            attachments=[
                {"url": "https://cdn.example.org/a.png", "filename": "a.png", "content_type": "image/png"}
            ],
        )
        await eventually(lambda: fake_discord.executions, what="the answer")
    (body,) = fake_tzurot_api.generations()
    context: dict[str, Any] = body["context"]
    assert body["personality"] == "alice"
    assert body["message"] == "@Alice what do you say?"
    assert context["user_name"] == "Caz"
    assert (context["channel_id"], context["guild_id"], context["thread_id"]) == (
        world["channel"],
        world["guild"],
        None,
    )
    assert context["referenced_message"]["author"] == "Dave"
    assert context["referenced_message"]["content"] == "What is 2+2?"
    assert context["referenced_message"]["is_personality"] is False
    assert context["attachments"] == [
        {"url": "https://cdn.example.org/a.png", "content_type": "image/png", "filename": "a.png"}
    ]
    # The last 4 messages, oldest first; the bot command is left out.
    assert [h["content"] for h in context["history"]] == ["old 1", "old 2", "What is 2+2?"]


async def test_history_marks_personality_messages_and_respects_reset(
    fake_discord: FakeDiscord, backend: BotBackend, fake_tzurot_api: FakeTzurotApi, world: dict[str, str]
) -> None:
    async with running_bot(bot_config(fake_discord, backend)):
        fake_discord.post_message(world["channel"], world["user"], "before the reset")
        fake_discord.post_message(world["channel"], world["user"], "!tz reset")
        await eventually(lambda: fake_discord.bot_messages, what="the reset confirmation")
        await asyncio.sleep(0.01)  # a later millisecond: the next snowflakes are after the marker
        fake_discord.post_message(world["channel"], world["user"], "@Alice first")
        await eventually(lambda: fake_discord.executions, what="the first answer")
        fake_discord.post_message(world["channel"], world["user"], "@Alice second")
        await eventually(lambda: len(fake_discord.executions) == 2, what="the second answer")
    history = fake_tzurot_api.generations()[1]["context"]["history"]
    assert [(h["author"], h["content"], h["is_personality"]) for h in history] == [
        ("Carol", "@Alice first", False),
        ("Alice", "Echo: @Alice first", True),
    ]


async def test_personality_list_is_announced_and_refreshed(
    fake_discord: FakeDiscord, backend: BotBackend, fake_tzurot_api: FakeTzurotApi, world: dict[str, str]
) -> None:
    async with running_bot(bot_config(fake_discord, backend)) as bot:
        fake_tzurot_api.personalities.append(personality("zed", "Zed"))
        bot.directory.refresh_after = 0  # stale at once: the next message reloads the list
        fake_discord.post_message(world["channel"], world["user"], "Zed, are you new?")
        (answer,) = await eventually(lambda: fake_discord.executions, what="Zed")
    assert answer.username == "Zed"
