"""``/tz`` slash commands: the real app-command tree, interactions dispatched by the fake gateway."""

from __future__ import annotations

import logging
import time

import pytest

from tests.bot_harness import BotBackend, bot_config, eventually, fake_backend, running_bot
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.tzurot_api import FakeTzurotApi

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

DEFERRED = 5
UPDATE_MESSAGE = 7
EPHEMERAL = 64
AUTOCOMPLETE_RESULT = 8


@pytest.fixture
def backend(fake_tzurot_api: FakeTzurotApi) -> BotBackend:
    return fake_backend(fake_tzurot_api)


@pytest.fixture
def world(fake_discord: FakeDiscord) -> dict[str, str]:
    guild = fake_discord.add_guild("Guild")
    moderators = fake_discord.add_moderator_role(guild)
    return {
        "guild": guild,
        "channel": fake_discord.add_channel(guild, "general"),
        "user": fake_discord.add_user("Carol", guild),
        "moderator": fake_discord.add_user("Mo", guild, roles=[moderators]),
    }


async def test_the_tz_group_is_synced_with_its_subcommands(
    fake_discord: FakeDiscord, backend: BotBackend
) -> None:
    async with running_bot(bot_config(fake_discord, backend)):
        pass
    (tz,) = fake_discord.command_syncs[-1]
    assert tz["name"] == "tz"
    names = {option["name"] for option in tz["options"]}
    assert {"help", "list", "info", "use", "activate", "deactivate", "reset", "forget", "key"} <= names
    key = next(option for option in tz["options"] if option["name"] == "key")
    assert {option["name"] for option in key["options"]} == {"set", "remove", "status", "test"}


async def test_key_set_is_acknowledged_privately_before_the_slow_api_answers(
    fake_discord: FakeDiscord,
    backend: BotBackend,
    fake_tzurot_api: FakeTzurotApi,
    world: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_tzurot_api.response_delay = 2.0  # a slow backend: Discord still needs an answer within 3 s
    async with running_bot(bot_config(fake_discord, backend)):
        started = time.monotonic()
        token = fake_discord.slash(
            world["channel"],
            world["user"],
            ["key", "set"],
            {"provider": "openai", "api_key": "sk-slash-key-4321"},
        )
        await eventually(lambda: fake_discord.followups_for(token), what="the answer")
    (ack,) = fake_discord.callbacks_for(token)
    assert ack["type"] == DEFERRED and ack["data"]["flags"] & EPHEMERAL
    assert ack["at"] - started < 1.5  # acknowledged long before the backend answered
    (put,) = fake_tzurot_api.calls("PUT", f"/users/{world['user']}/credentials/openai")
    assert ack["at"] < put.at
    assert put.body["api_key"] == "sk-slash-key-4321"
    (answer,) = fake_discord.followups_for(token)
    assert answer["flags"] & EPHEMERAL
    assert answer["content"] == "Saved your openai key (…4321); characters now use it when they answer you."
    assert "sk-slash-key-4321" not in caplog.text


async def test_list_answers_ephemerally(
    fake_discord: FakeDiscord, backend: BotBackend, world: dict[str, str]
) -> None:
    async with running_bot(bot_config(fake_discord, backend)):
        token = fake_discord.slash(world["channel"], world["user"], ["list"])
        await eventually(lambda: fake_discord.followups_for(token), what="the list")
    (answer,) = fake_discord.followups_for(token)
    assert answer["flags"] & EPHEMERAL
    assert "**Bob the Builder**" in answer["content"] and "**Dr Jekyll** (also: Jekyll)" in answer["content"]


async def test_activate_checks_permissions_of_the_member(
    fake_discord: FakeDiscord, backend: BotBackend, fake_tzurot_api: FakeTzurotApi, world: dict[str, str]
) -> None:
    async with running_bot(bot_config(fake_discord, backend)):
        refused = fake_discord.slash(world["channel"], world["user"], ["activate"], {"name": "alice"})
        await eventually(lambda: fake_discord.callbacks_for(refused), what="the refusal")
        allowed = fake_discord.slash(world["channel"], world["moderator"], ["activate"], {"name": "alice"})
        await eventually(lambda: fake_discord.followups_for(allowed), what="the activation")
    (refusal,) = fake_discord.callbacks_for(refused)
    assert refusal["data"]["content"] == "You need the Manage Messages permission in this channel to do that."
    assert refusal["data"]["flags"] & EPHEMERAL
    assert (
        fake_discord.followups_for(allowed)[0]["content"]
        == "**Alice** now answers every message in this channel."
    )
    assert fake_tzurot_api.activations[world["channel"]]["activated_by"] == world["moderator"]


async def test_forget_asks_first_and_only_the_asker_can_confirm(
    fake_discord: FakeDiscord, backend: BotBackend, fake_tzurot_api: FakeTzurotApi, world: dict[str, str]
) -> None:
    fake_tzurot_api.memories[(world["user"], "alice")] = 3
    async with running_bot(bot_config(fake_discord, backend)):
        token = fake_discord.slash(world["channel"], world["user"], ["forget"], {"name": "Alice"})
        (question,) = await eventually(lambda: fake_discord.followups_for(token), what="the question")
        assert "Delete everything **Alice** remembers about you?" in question["content"]
        buttons = [c["custom_id"] for row in question["components"] for c in row["components"]]
        assert buttons == ["tz:forget:yes", "tz:forget:no"]

        intruder = fake_discord.click(
            world["channel"], world["moderator"], question["message"], "tz:forget:yes"
        )
        (refusal,) = await eventually(lambda: fake_discord.callbacks_for(intruder), what="the refusal")
        assert refusal["data"]["content"] == "This question is not for you."
        assert fake_tzurot_api.calls("DELETE", "/users/") == []

        click = fake_discord.click(world["channel"], world["user"], question["message"], "tz:forget:yes")
        await eventually(lambda: fake_discord.followups_for(click), what="the result")
    (update,) = fake_discord.callbacks_for(click)
    assert update["type"] == UPDATE_MESSAGE
    (result,) = fake_discord.followups_for(click)
    assert result["content"] == "Done: **Alice** forgot 3 memories about you."
    (call,) = fake_tzurot_api.calls("DELETE", f"/users/{world['user']}/memories")
    assert call.query == {"personality": "alice"}


async def test_forget_cancelled_deletes_nothing(
    fake_discord: FakeDiscord, backend: BotBackend, fake_tzurot_api: FakeTzurotApi, world: dict[str, str]
) -> None:
    async with running_bot(bot_config(fake_discord, backend)):
        token = fake_discord.slash(world["channel"], world["user"], ["forget"], {"name": "bob"})
        (question,) = await eventually(lambda: fake_discord.followups_for(token), what="the question")
        click = fake_discord.click(world["channel"], world["user"], question["message"], "tz:forget:no")
        (update,) = await eventually(lambda: fake_discord.callbacks_for(click), what="the cancellation")
    assert update["data"]["content"] == "Cancelled."
    assert fake_tzurot_api.calls("DELETE", "/users/") == []


async def test_name_options_autocomplete_from_the_personality_list(
    fake_discord: FakeDiscord, backend: BotBackend, world: dict[str, str]
) -> None:
    async with running_bot(bot_config(fake_discord, backend)):
        token = fake_discord.autocomplete(world["channel"], world["user"], ["info"], "name", "bo")
        (answer,) = await eventually(lambda: fake_discord.callbacks_for(token), what="the choices")
    assert answer["type"] == AUTOCOMPLETE_RESULT
    assert answer["data"]["choices"] == [{"name": "Bob the Builder", "value": "bob"}]


async def test_the_profile_subgroup_is_synced_with_field_choices(
    fake_discord: FakeDiscord, backend: BotBackend
) -> None:
    async with running_bot(bot_config(fake_discord, backend)):
        pass
    (tz,) = fake_discord.command_syncs[-1]
    profile = next(option for option in tz["options"] if option["name"] == "profile")
    commands = {option["name"]: option for option in profile["options"]}
    assert set(commands) == {"show", "set", "add-fact", "remove-fact", "clear"}
    field = next(option for option in commands["set"]["options"] if option["name"] == "field")
    assert [choice["value"] for choice in field["choices"]] == ["preferred_name", "pronouns", "backstory"]
    value = next(option for option in commands["set"]["options"] if option["name"] == "value")
    assert value["required"] is False
    name = next(option for option in commands["show"]["options"] if option["name"] == "name")
    assert name["autocomplete"] is True


async def test_profile_answers_only_to_the_user_and_pings_nobody(
    fake_discord: FakeDiscord, backend: BotBackend, fake_tzurot_api: FakeTzurotApi, world: dict[str, str]
) -> None:
    async with running_bot(bot_config(fake_discord, backend)):
        saved = fake_discord.slash(
            world["channel"],
            world["user"],
            ["profile", "set"],
            {"name": "alice", "field": "preferred_name", "value": f"<@{world['moderator']}>"},
        )
        await eventually(lambda: fake_discord.followups_for(saved), what="the answer to set")
        shown = fake_discord.slash(world["channel"], world["user"], ["profile", "show"], {"name": "alice"})
        await eventually(lambda: fake_discord.followups_for(shown), what="the profile")
    (ack,) = fake_discord.callbacks_for(saved)
    assert ack["type"] == DEFERRED and ack["data"]["flags"] & EPHEMERAL
    (answer,) = fake_discord.followups_for(saved)
    assert answer["content"] == f"**Alice** now calls you **<@{world['moderator']}>**."
    assert answer["flags"] & EPHEMERAL
    assert answer["allowed_mentions"] == {"parse": []}
    assert fake_tzurot_api.profiles[(world["user"], "alice")]["preferred_name"] == f"<@{world['moderator']}>"
    (profile,) = fake_discord.followups_for(shown)
    assert profile["flags"] & EPHEMERAL
    (embed,) = profile["embeds"]
    assert embed["title"] == "Your profile with Alice"
    assert embed["fields"][0] == {
        "name": "Preferred name",
        "value": f"<@{world['moderator']}>",
        "inline": True,
    }
