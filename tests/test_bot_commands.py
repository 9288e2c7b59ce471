"""The ``!tz`` commands through dpytest (discord.py's real command machinery, faked Discord state)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import discord
import discord.ext.test as dpytest
import pytest
import pytest_asyncio
import redis
from discord.ext import commands
from discord.ext.test import backend, callbacks
from django.conf import settings

from botclient.api import RetryPolicy, TzurotApi
from botclient.bot import TzurotBot, bot_intents
from botclient.config import BotConfig
from tests.fakes.tzurot_api import FakeTzurotApi, personality

pytestmark = pytest.mark.asyncio


async def _no_sleep(seconds: float) -> None:
    return None


@pytest_asyncio.fixture
async def bot(fake_tzurot_api: FakeTzurotApi) -> AsyncIterator[TzurotBot]:
    fake_tzurot_api.personalities = [
        personality("alice", "Alice", aliases=["Ali"], greeting="Hi, I'm Alice."),
        personality("bob", "Bob", display_name="Bob the Builder"),
    ]
    config = BotConfig(
        discord_token="unused",
        api_url=fake_tzurot_api.base_url,
        api_token=fake_tzurot_api.token,
        redis_url=settings.REDIS_URL,
        sync_commands=False,
    )
    api = TzurotApi(config.api_url, config.api_token, sleep=_no_sleep, retry=RetryPolicy(attempts=2))
    intents = bot_intents()
    intents.members = True  # dpytest builds its members through the member cache
    tz_bot = TzurotBot(config, api=api, intents=intents)
    await tz_bot._async_setup_hook()
    await tz_bot.setup_hook()
    dpytest.configure(tz_bot, members=["Carol", "Dave"])
    yield tz_bot
    await dpytest.empty_queue()
    await tz_bot.api.close()
    await tz_bot.state.close()


@pytest.fixture
def deleted() -> list[int]:
    ids: list[int] = []

    async def record(channel: Any, message: discord.Message, **kwargs: Any) -> None:
        ids.append(message.id)

    callbacks.set_callback(record, "delete_message")
    yield ids
    callbacks.remove_callback("delete_message")


def member(index: int) -> discord.Member:
    return dpytest.get_config().members[index]


async def make_moderator(index: int) -> None:
    guild = dpytest.get_config().guilds[0]
    role = backend.make_role("Moderators", guild, permissions=discord.Permissions(manage_messages=True).value)
    await dpytest.add_role(member(index), role)


async def dm_of(index: int) -> discord.DMChannel:
    return await member(index).create_dm()


def sent() -> discord.Message:
    return dpytest.get_message()


async def test_help_explains_the_commands(bot: TzurotBot) -> None:
    await dpytest.message("!tz")
    assert "`!tz list`" in sent().content
    await dpytest.message("!tz help")
    assert "/tz key set" in sent().content


async def test_list_and_info(bot: TzurotBot) -> None:
    await dpytest.message("!tz list")
    listing = sent().content
    assert "**Alice** (also: Ali)" in listing and "**Bob the Builder**" in listing
    await dpytest.message("!tz info ali")
    embed = sent().embeds[0]
    assert embed.title == "Alice"
    assert embed.description == "Hi, I'm Alice."
    assert embed.thumbnail.url == "https://cdn.example.org/alice.png"


async def test_info_about_someone_unknown_is_a_readable_error(bot: TzurotBot) -> None:
    with pytest.raises(commands.CommandError):
        await dpytest.message("!tz info Zorro")
    assert sent().content.startswith("I don't know anyone called “Zorro”")


async def test_use_selects_a_personality_for_dms(
    bot: TzurotBot, fake_tzurot_api: FakeTzurotApi, redis_client: redis.Redis
) -> None:
    await dpytest.message("!tz use bob the builder")
    assert "**Bob the Builder** now answers your messages in DMs" in sent().content
    user = str(member(0).id)
    assert fake_tzurot_api.selections == {(user, None): "bob"}
    assert redis_client.get(f"tzurot:bot:dm:{user}") == b"bob"


async def test_activate_needs_manage_messages(bot: TzurotBot, fake_tzurot_api: FakeTzurotApi) -> None:
    with pytest.raises(commands.MissingPermissions):
        await dpytest.message("!tz activate alice")
    assert sent().content == "You need the Manage Messages permission in this channel to do that."
    assert fake_tzurot_api.activations == {}


async def test_activate_and_deactivate_with_manage_messages(
    bot: TzurotBot, fake_tzurot_api: FakeTzurotApi
) -> None:
    channel = dpytest.get_config().channels[0]
    await make_moderator(0)
    await dpytest.message("!tz activate Alice")
    assert sent().content == "**Alice** now answers every message in this channel."
    record = fake_tzurot_api.activations[str(channel.id)]
    assert (record["personality"], record["guild_id"], record["activated_by"]) == (
        "alice",
        str(channel.guild.id),
        str(member(0).id),
    )
    await dpytest.message("!tz deactivate")
    assert sent().content.startswith("Done: characters here answer only when addressed")
    await dpytest.message("!tz deactivate")
    assert sent().content == "No character was active here."


async def test_activate_is_refused_in_dms(bot: TzurotBot) -> None:
    with pytest.raises(commands.NoPrivateMessage):
        await dpytest.message("!tz activate alice", channel=await dm_of(0))
    assert sent().content == "That only works in a server channel."


async def test_reset_sets_the_channel_marker(bot: TzurotBot, redis_client: redis.Redis) -> None:
    channel = dpytest.get_config().channels[0]
    before = discord.utils.time_snowflake(discord.utils.utcnow())
    message = await dpytest.message("!tz reset")
    assert sent().content.startswith("Fresh start")
    marker = int(redis_client.get(f"tzurot:bot:reset:{channel.id}"))
    assert before <= marker and message.id <= marker + (1 << 22) * 5


async def test_a_key_sent_in_a_server_channel_is_deleted_and_not_stored(
    bot: TzurotBot, fake_tzurot_api: FakeTzurotApi, deleted: list[int]
) -> None:
    message = await dpytest.message("!tz key set openai sk-this-is-now-public-1234")
    assert deleted == [message.id]
    reply = sent().content
    assert "consider that key exposed" in reply and "sk-this-is-now-public" not in reply
    assert fake_tzurot_api.calls("PUT", "/users/") == []
    # Even typed wrongly, a key is deleted first.
    wrong = await dpytest.message("!tz key set sk-without-provider-5678")
    assert deleted == [message.id, wrong.id]
    assert fake_tzurot_api.calls("PUT", "/users/") == []


async def test_a_key_sent_in_a_dm_is_stored(bot: TzurotBot, fake_tzurot_api: FakeTzurotApi) -> None:
    dm = await dm_of(0)
    await dpytest.message("!tz key set OpenAI sk-good-key-9876", channel=dm)
    assert sent().content == "Saved your openai key (…9876); characters now use it when they answer you."
    (call,) = fake_tzurot_api.calls("PUT", f"/users/{member(0).id}/credentials/openai")
    assert call.body == {"api_key": "sk-good-key-9876", "base_url": None, "verify": True}
    fake_tzurot_api.rejected_keys.add("sk-bad-key")
    await dpytest.message("!tz key set openai sk-bad-key", channel=dm)
    assert sent().content == "openai rejected this key, so nothing was stored. Check it and try again."
    await dpytest.message("!tz key status", channel=dm)
    assert sent().content == "Your keys:\n• openai: …9876 — works"
    await dpytest.message("!tz key test openai", channel=dm)
    assert sent().content.startswith("Your openai key works.")
    await dpytest.message("!tz key remove openai", channel=dm)
    assert sent().content == "Your openai key is deleted."
    await dpytest.message("!tz key status", channel=dm)
    assert sent().content == "You have no key stored; characters use the operator's key."


async def test_other_key_commands_in_a_server_channel_point_to_private_places(
    bot: TzurotBot, fake_tzurot_api: FakeTzurotApi, deleted: list[int]
) -> None:
    await dpytest.message("!tz key status")
    assert sent().content.startswith("Key commands work as the slash command")
    assert deleted == []
    assert fake_tzurot_api.calls("GET", "/users/") == []


async def test_an_unreachable_backend_is_reported_readably(
    bot: TzurotBot, fake_tzurot_api: FakeTzurotApi
) -> None:
    channel = dpytest.get_config().channels[0]
    await make_moderator(0)
    fake_tzurot_api.fail_next(f"/channels/{channel.id}/activation", count=2, status=503)
    with pytest.raises(commands.CommandError):
        await dpytest.message("!tz activate alice")
    assert sent().content == "I can't reach the Tzurot service right now. Please try again shortly."


async def test_api_refusals_are_reported_with_the_api_message(
    bot: TzurotBot, fake_tzurot_api: FakeTzurotApi
) -> None:
    fake_tzurot_api.personalities.append(personality("carl", "Carl"))
    await bot.directory.refresh()
    fake_tzurot_api.personalities.pop()  # the API no longer knows Carl
    with pytest.raises(commands.CommandError):
        await dpytest.message("!tz use carl")
    assert sent().content == "That did not work: personality: unknown personality."


# -- relationship profiles ----------------------------------------------------------------------------


async def test_profile_without_subcommand_explains_the_profile_commands(bot: TzurotBot) -> None:
    await dpytest.message("!tz profile")
    text = sent().content
    for usage in (
        "show <name>",
        "set <name> <field> [value]",
        "add-fact <name> <fact>",
        "remove-fact <name> <number>",
        "clear <name>",
    ):
        assert f"`!tz profile {usage}`" in text
    await dpytest.message("!tz help")
    assert "`!tz profile show|set|add-fact|remove-fact|clear <name> …`" in sent().content


async def test_showing_a_profile_that_does_not_exist_says_how_to_set_one(bot: TzurotBot) -> None:
    await dpytest.message("!tz profile show alice")
    text = sent().content
    assert text.startswith("You have no profile with **Alice** yet.")
    assert "`/tz profile set alice preferred_name <name>`" in text


async def test_set_preferred_name_then_show_it(bot: TzurotBot, fake_tzurot_api: FakeTzurotApi) -> None:
    user = str(member(0).id)
    await dpytest.message("!tz profile set Ali preferred_name  Ally   B ")
    assert sent().content == "**Alice** now calls you **Ally B**."
    (call,) = fake_tzurot_api.calls("PATCH", f"/users/{user}/profiles/alice")
    assert call.body == {"preferred_name": "Ally   B"}  # only the field set; the API normalises it
    await dpytest.message("!tz profile set alice pronouns she/her")
    assert sent().content == "Saved your pronouns with **Alice**: she/her"
    await dpytest.message("!tz profile show alice")
    embed = sent().embeds[0]
    assert embed.title == "Your profile with Alice"
    fields = {field.name: field.value for field in embed.fields}
    assert fields == {"Preferred name": "Ally B", "Pronouns": "she/her", "Notable facts": "*not set*"}
    assert embed.description == "**Backstory**\n*not set*"


async def test_a_backstory_keeps_its_lines_and_no_value_clears_a_field(
    bot: TzurotBot, fake_tzurot_api: FakeTzurotApi
) -> None:
    user = str(member(0).id)
    await dpytest.message("!tz profile set bob pronouns")
    assert sent().content == "You have no profile with **Bob the Builder**; nothing to clear."
    assert fake_tzurot_api.profiles == {}
    await dpytest.message("!tz profile set bob backstory We met on a train.\nHe built me a shed.")
    assert sent().content.startswith("Saved your backstory with **Bob the Builder**: We met on a train.")
    assert fake_tzurot_api.profiles[(user, "bob")]["backstory"] == "We met on a train.\nHe built me a shed."
    await dpytest.message("!tz profile set bob name Sam")
    await dpytest.message("!tz profile set bob backstory")
    assert [sent().content, sent().content] == [
        "**Bob the Builder** now calls you **Sam**.",
        "Cleared your backstory with **Bob the Builder**.",
    ]
    stored = fake_tzurot_api.profiles[(user, "bob")]
    assert (stored["backstory"], stored["preferred_name"]) == ("", "Sam")


async def test_a_value_the_api_refuses_is_explained_and_nothing_is_stored(
    bot: TzurotBot, fake_tzurot_api: FakeTzurotApi
) -> None:
    user = str(member(0).id)
    await dpytest.message("!tz profile set alice preferred_name " + "x" * 81)
    assert sent().content == (
        "Nothing was changed. Preferred name: Ensure this field has no more than 80 characters."
    )
    assert fake_tzurot_api.profiles == {}
    await dpytest.message("!tz profile set alice pronouns she/her")
    sent()
    await dpytest.message("!tz profile set alice pronouns " + "y" * 41)
    assert (
        sent().content == "Nothing was changed. Pronouns: Ensure this field has no more than 40 characters."
    )
    assert fake_tzurot_api.profiles[(user, "alice")]["pronouns"] == "she/her"


async def test_an_unknown_field_is_refused_before_calling_the_api(
    bot: TzurotBot, fake_tzurot_api: FakeTzurotApi
) -> None:
    with pytest.raises(commands.BadArgument):
        await dpytest.message("!tz profile set Dr Jekyll pronouns she/her")  # unquoted: field "Jekyll"
    text = sent().content
    assert text.startswith("“Jekyll” is not something a profile holds; choose `preferred_name`")
    assert '`!tz profile set "Dr Jekyll" pronouns she/her`' in text
    assert fake_tzurot_api.calls("PATCH", "/users/") == []


async def test_notable_facts_are_added_listed_and_removed_by_number(
    bot: TzurotBot, fake_tzurot_api: FakeTzurotApi
) -> None:
    user = str(member(0).id)
    await dpytest.message("!tz profile add-fact alice I fly gliders.")
    assert sent().content == "Added fact 1 to your profile with **Alice**."
    await dpytest.message("!tz profile add-fact alice I hate fog.")
    assert sent().content == "Added fact 2 to your profile with **Alice**."
    await dpytest.message("!tz profile add-fact alice i fly   GLIDERS.")
    assert sent().content == "**Alice** already keeps that in mind."
    await dpytest.message("!tz profile add-fact alice " + "z" * 301)
    assert sent().content == (
        "Nothing was added. Notable facts: Ensure this field has no more than 300 characters."
    )
    await dpytest.message("!tz profile show alice")
    fields = {field.name: field.value for field in sent().embeds[0].fields}
    assert fields["Notable facts"] == "1. I fly gliders.\n2. I hate fog."
    await dpytest.message("!tz profile remove-fact alice 3")
    assert sent().content.startswith("Your profile with **Alice** has no fact number 3;")
    await dpytest.message("!tz profile remove-fact alice 1")
    assert sent().content == "Removed fact 1 (“I fly gliders.”)."
    assert fake_tzurot_api.profiles[(user, "alice")]["notable_facts"] == ["I hate fog."]


async def test_a_long_list_of_facts_follows_the_embed_whole(
    bot: TzurotBot, fake_tzurot_api: FakeTzurotApi
) -> None:
    user = str(member(0).id)
    facts = [f"Fact {n}: " + "w" * 280 for n in range(1, 31)]
    fake_tzurot_api.profiles[(user, "alice")] = {
        "personality": "alice",
        "user_id": user,
        "preferred_name": "Ally",
        "pronouns": "",
        "backstory": "b" * 4000,
        "notable_facts": facts,
    }
    await dpytest.message("!tz profile show alice")
    embed = sent().embeds[0]
    assert {field.name: field.value for field in embed.fields}["Notable facts"] == "30, listed below."
    assert len(embed) <= 6000
    listed = ""
    while not dpytest.verify().message().nothing():
        listed += sent().content + "\n"
    for number, fact in enumerate(facts, start=1):
        assert f"{number}. {fact}" in listed


async def test_clear_deletes_the_profile(bot: TzurotBot, fake_tzurot_api: FakeTzurotApi) -> None:
    await dpytest.message("!tz profile set alice preferred_name Ally")
    sent()
    await dpytest.message("!tz profile clear alice")
    assert sent().content.startswith("Deleted your profile with **Alice**")
    assert fake_tzurot_api.profiles == {}
    await dpytest.message("!tz profile show alice")
    assert sent().content.startswith("You have no profile with **Alice** yet.")
    await dpytest.message("!tz profile clear alice")
    assert sent().content == "You had no profile with **Alice**."


async def test_profile_commands_always_act_for_the_author(
    bot: TzurotBot, fake_tzurot_api: FakeTzurotApi
) -> None:
    carol, dave = str(member(0).id), str(member(1).id)
    await dpytest.message("!tz profile set alice preferred_name Davey", member=1)
    assert sent().content == "**Alice** now calls you **Davey**."
    await dpytest.message("!tz profile show alice", member=0)
    assert sent().content.startswith("You have no profile with **Alice** yet.")
    await dpytest.message("!tz profile clear alice", member=0)
    assert sent().content == "You had no profile with **Alice**."
    assert list(fake_tzurot_api.profiles) == [(dave, "alice")]
    assert {c.path for c in fake_tzurot_api.calls("GET", "/users/")} == {f"/users/{carol}/profiles/alice"}
    await dpytest.message("!tz profile show alice", member=1)
    assert {f.name: f.value for f in sent().embeds[0].fields}["Preferred name"] == "Davey"
