"""The ``tz`` command group: ``!tz …`` and ``/tz …`` (hybrid commands).

Slash commands acknowledge at once (``ctx.defer``) before calling the API, so
Discord's 3-second limit holds however slow the backend is. Answers about the
user alone are ephemeral. Key commands accept a key only where nobody else
can read it: the slash command (ephemeral) or a DM; a key typed with the
prefix command in a server channel is deleted at once and never stored.
Profile commands always act for the author: nobody can name another user.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from ..api import BackendUnavailable, PersonalityInfo, TzurotApiError
from ..config import COMMAND_PREFIX
from ..delivery import UNAVAILABLE
from ..splitting import split_message

if TYPE_CHECKING:
    from ..bot import TzurotBot

log = logging.getLogger(__name__)

PROVIDERS = ("openrouter", "openai", "custom")
P = f"{COMMAND_PREFIX}tz"
HELP = f"""**Tzurot** — talk with AI characters. Each one answers under its own name.

**Talking**: start a message with a character's name (`Alice, hi!`) or mention it anywhere \
(`@Alice`); reply to a character's message to keep talking to it. Several may answer one message.
`{P} list` — who is here · `{P} info <name>` — about one
`{P} use <name>` — your character for DMs with me
`{P} activate <name>` / `{P} deactivate` — a character answers every message in this channel \
(needs Manage Messages)
`{P} reset` — characters here forget the conversation so far
`{P} forget <name>` — delete what a character remembers about you (asks first)
`{P} profile show|set|add-fact|remove-fact|clear <name> …` — what a character calls you and knows \
about you (`{P} profile` explains)
`/tz key set|remove|status|test` — your own LLM API key (slash command, only you see it; \
or `{P} key …` in a DM with me; never paste a key in a channel)
Every command also works as `/tz …`."""
KEY_EXPOSED = (
    "I deleted your message. Never send an API key in a server channel: anyone here may have seen it, "
    "so **consider that key exposed** and revoke it at your provider. Nothing was stored. Use the "
    "slash command `/tz key set` (only you see it) or send `!tz key set <provider> <key>` in a DM with me."
)
KEY_WHERE = "Key commands work as the slash command `/tz key …` (only you see the answer) or in a DM with me."

# The text fields of a relationship profile the user sets one at a time (the API's names),
# their labels, and the words ``set`` also accepts for them.
PROFILE_TEXT_FIELDS = ("preferred_name", "pronouns", "backstory")
PROFILE_LABELS = {
    "preferred_name": "preferred name",
    "pronouns": "pronouns",
    "backstory": "backstory",
    "notable_facts": "notable facts",
}
PROFILE_FIELD_WORDS = {
    **{name: name for name in PROFILE_TEXT_FIELDS},
    "preferred-name": "preferred_name",
    "name": "preferred_name",
    "story": "backstory",
}
NOT_SET = "*not set*"
EMBED_FIELD_LIMIT = 1024
PROFILE_HELP = f"""**Your profile with a character** — what it calls you and knows about you. \
Only you can change yours; `/tz profile …` or a DM with me keeps it between us.
`{P} profile show <name>` — your profile with that character
`{P} profile set <name> <field> [value]` — field: `preferred_name`, `pronouns` or `backstory`; \
no value clears it
`{P} profile add-fact <name> <fact>` · `{P} profile remove-fact <name> <number>` — notable facts
`{P} profile clear <name>` — delete your whole profile with that character
A name of several words goes in quotes with `{P}` (`{P} profile set "Dr Jekyll" pronouns she/her`); \
`/tz profile …` completes names."""
NO_MENTIONS = discord.AllowedMentions.none()


class ConfirmView(discord.ui.View):
    """Two buttons; only ``user_id`` may press them."""

    def __init__(self, user_id: int, *, timeout: float = 60.0) -> None:
        super().__init__(timeout=timeout)
        self.user_id = user_id
        self.confirmed: bool | None = None
        self.interaction: discord.Interaction | None = None

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.user_id:
            await interaction.response.send_message("This question is not for you.", ephemeral=True)
            return False
        return True

    async def _answer(self, interaction: discord.Interaction, confirmed: bool) -> None:
        self.confirmed = confirmed
        self.interaction = interaction
        await interaction.response.edit_message(
            content="Working on it…" if confirmed else "Cancelled.", view=None
        )
        self.stop()

    @discord.ui.button(label="Forget", style=discord.ButtonStyle.danger, custom_id="tz:forget:yes")
    async def yes(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await self._answer(interaction, True)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary, custom_id="tz:forget:no")
    async def no(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await self._answer(interaction, False)


class TzCommands(commands.Cog):
    def __init__(self, bot: TzurotBot) -> None:
        self.bot = bot

    # -- helpers -----------------------------------------------------------------------------

    async def _personality(self, name: str) -> PersonalityInfo:
        person = await self.bot.directory.find(name.strip())
        if person is None:
            person = await self.bot.directory.get(name.strip())
        if person is None:
            raise commands.BadArgument(
                f"I don't know anyone called “{name.strip()}”. `{P} list` shows who is here."
            )
        return person

    async def name_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        wanted = current.casefold()
        people = await self.bot.directory.all()
        return [
            app_commands.Choice(name=p.shown_name[:100], value=p.slug)
            for p in people
            if wanted in f"{p.shown_name} {p.slug}".casefold()
        ][:25]

    # -- the group ---------------------------------------------------------------------------------

    @commands.hybrid_group(name="tz", invoke_without_command=True, fallback="help")
    async def tz(self, ctx: commands.Context[Any]) -> None:
        """Tzurot: talk with AI characters."""
        await ctx.send(HELP, ephemeral=True)

    @tz.command(name="list")
    async def list_(self, ctx: commands.Context[Any]) -> None:
        """Who is here to talk to."""
        await ctx.defer(ephemeral=True)
        people = await self.bot.directory.all()
        if not people:
            await ctx.send("No characters are available yet.", ephemeral=True)
            return
        lines = []
        for person in people:
            aliases = f" (also: {', '.join(person.aliases)})" if person.aliases else ""
            lines.append(f"• **{discord.utils.escape_markdown(person.shown_name)}**{aliases}")
        for chunk in split_message("Characters you can talk to:\n" + "\n".join(lines)):
            await ctx.send(chunk, ephemeral=True)

    @tz.command(name="info")
    @app_commands.describe(name="The character's name")
    async def info(self, ctx: commands.Context[Any], *, name: str) -> None:
        """About one character."""
        await ctx.defer(ephemeral=True)
        person = await self._personality(name)
        embed = discord.Embed(title=person.shown_name, description=person.greeting[:4000] or None)
        if person.avatar:
            embed.set_thumbnail(url=person.avatar)
        embed.add_field(
            name="Address it as", value=", ".join([person.name, *person.aliases])[:1024], inline=False
        )
        await ctx.send(embed=embed, ephemeral=True)

    @tz.command(name="use")
    @app_commands.describe(name="The character's name")
    async def use(self, ctx: commands.Context[Any], *, name: str) -> None:
        """Pick your character for DMs with me."""
        await ctx.defer(ephemeral=True)
        person = await self._personality(name)
        await self.bot.api.set_selection(ctx.author.id, personality=person.slug)
        await self.bot.state.set_dm_session(ctx.author.id, person.slug)
        await ctx.send(
            f"**{person.shown_name}** now answers your messages in DMs with me. In a server, "
            f"start a message with its name or mention `@{person.name}`.",
            ephemeral=True,
        )

    @tz.command(name="activate")
    @commands.guild_only()
    @commands.has_permissions(manage_messages=True)
    @app_commands.describe(name="The character's name")
    async def activate(self, ctx: commands.Context[Any], *, name: str) -> None:
        """A character answers every message in this channel."""
        await ctx.defer()
        person = await self._personality(name)
        await self.bot.api.set_activation(
            ctx.channel.id,
            personality=person.slug,
            guild_id=ctx.guild.id if ctx.guild else None,
            activated_by=ctx.author.id,
        )
        self.bot.forget_activation(ctx.channel.id)
        await ctx.send(f"**{person.shown_name}** now answers every message in this channel.")

    @tz.command(name="deactivate")
    @commands.guild_only()
    @commands.has_permissions(manage_messages=True)
    async def deactivate(self, ctx: commands.Context[Any]) -> None:
        """Stop the channel's character from answering every message."""
        await ctx.defer()
        removed = await self.bot.api.delete_activation(ctx.channel.id)
        self.bot.forget_activation(ctx.channel.id)
        await ctx.send(
            "Done: characters here answer only when addressed."
            if removed
            else "No character was active here."
        )

    @tz.command(name="reset")
    async def reset(self, ctx: commands.Context[Any]) -> None:
        """Characters here forget the conversation so far."""
        await ctx.defer()
        marker = discord.utils.time_snowflake(discord.utils.utcnow())
        await self.bot.state.set_reset_marker(ctx.channel.id, marker)
        await ctx.send("Fresh start: characters here no longer see the messages before this one.")

    @tz.command(name="forget")
    @app_commands.describe(name="The character's name")
    async def forget(self, ctx: commands.Context[Any], *, name: str) -> None:
        """Delete what a character remembers about you (asks first)."""
        await ctx.defer(ephemeral=True)
        person = await self._personality(name)
        view = ConfirmView(ctx.author.id)
        question = await ctx.send(
            f"Delete everything **{person.shown_name}** remembers about you? This cannot be undone.",
            view=view,
            ephemeral=True,
        )
        if await view.wait() or view.interaction is None:  # timed out
            await question.edit(content="No answer; nothing was forgotten.", view=None)
            return
        if not view.confirmed:
            return
        try:
            deleted = await self.bot.api.delete_memories(ctx.author.id, personality=person.slug)
            noun = "memory" if deleted == 1 else "memories"
            text = f"Done: **{person.shown_name}** forgot {deleted} {noun} about you."
        except TzurotApiError as exc:
            text = f"That did not work: {exc.message}"
        except BackendUnavailable:
            text = UNAVAILABLE
        await view.interaction.edit_original_response(content=text)

    @info.autocomplete("name")
    @use.autocomplete("name")
    @activate.autocomplete("name")
    @forget.autocomplete("name")
    async def _names(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await self.name_autocomplete(interaction, current)

    # -- keys -----------------------------------------------------------------------------------

    @tz.group(name="key", invoke_without_command=True)
    async def key(self, ctx: commands.Context[Any]) -> None:
        """Your own LLM API key."""
        await ctx.send(
            f"{KEY_WHERE}\n`/tz key set <provider> <key>` · `/tz key status` · `/tz key test <provider>` · "
            "`/tz key remove <provider>`; providers: " + ", ".join(PROVIDERS),
            ephemeral=True,
        )

    async def _private_or_refuse(self, ctx: commands.Context[Any], *, may_hold_key: bool) -> bool:
        """True where a key command may answer: a slash command or a DM."""
        if ctx.interaction is not None or ctx.guild is None:
            return True
        if may_hold_key:
            try:
                await ctx.message.delete()
            except discord.HTTPException:
                await ctx.send(
                    f"{ctx.author.mention} I could not delete your message: delete it now. " + KEY_EXPOSED,
                    allowed_mentions=discord.AllowedMentions(users=[ctx.author]),
                )
                return False
            await ctx.send(
                f"{ctx.author.mention} " + KEY_EXPOSED,
                allowed_mentions=discord.AllowedMentions(users=[ctx.author]),
            )
        else:
            await ctx.send(KEY_WHERE)
        return False

    @key.command(name="set")
    @app_commands.describe(
        provider="openrouter, openai or custom",
        api_key="Your API key (only you see this command)",
        base_url="For custom: the https:// address of an OpenAI-compatible API",
    )
    async def key_set(
        self, ctx: commands.Context[Any], provider: str = "", api_key: str = "", base_url: str = ""
    ) -> None:
        """Store your own API key (checked with the provider first)."""
        # No required arguments: whatever was typed, a key in a channel must be deleted first.
        if not await self._private_or_refuse(ctx, may_hold_key=True):
            return
        await ctx.defer(ephemeral=True)
        provider = provider.strip().lower()
        if provider not in PROVIDERS or not api_key.strip():
            await ctx.send(
                f"Usage: `key set <provider> <key>`; providers: {', '.join(PROVIDERS)}.", ephemeral=True
            )
            return
        try:
            stored = await self.bot.api.set_credential(
                ctx.author.id, provider, api_key=api_key.strip(), base_url=base_url.strip() or None
            )
        except TzurotApiError as exc:
            if exc.code == "invalid_api_key":
                text = f"{provider} rejected this key, so nothing was stored. Check it and try again."
            else:
                text = f"Nothing was stored: {exc.message}"
            await ctx.send(text, ephemeral=True)
            return
        hint = stored.get("hint", "")
        await ctx.send(
            f"Saved your {provider} key ({hint}); characters now use it when they answer you.", ephemeral=True
        )

    @key.command(name="remove")
    @app_commands.describe(provider="openrouter, openai or custom")
    async def key_remove(self, ctx: commands.Context[Any], provider: str) -> None:
        """Delete your stored key."""
        if not await self._private_or_refuse(ctx, may_hold_key=False):
            return
        await ctx.defer(ephemeral=True)
        removed = await self.bot.api.delete_credential(ctx.author.id, provider.strip().lower())
        await ctx.send(
            f"Your {provider} key is deleted." if removed else f"You had no {provider} key stored.",
            ephemeral=True,
        )

    @key.command(name="status")
    async def key_status(self, ctx: commands.Context[Any]) -> None:
        """Which keys you have stored."""
        if not await self._private_or_refuse(ctx, may_hold_key=False):
            return
        await ctx.defer(ephemeral=True)
        keys = await self.bot.api.list_credentials(ctx.author.id)
        if not keys:
            await ctx.send("You have no key stored; characters use the operator's key.", ephemeral=True)
            return
        lines = [
            f"• {k.get('provider')}: {k.get('hint', '')} — "
            + ("works" if k.get("is_valid") else "REJECTED last time")
            for k in keys
        ]
        await ctx.send("Your keys:\n" + "\n".join(lines), ephemeral=True)

    @key.command(name="test")
    @app_commands.describe(provider="openrouter, openai or custom")
    async def key_test(self, ctx: commands.Context[Any], provider: str) -> None:
        """Check your stored key with the provider now."""
        if not await self._private_or_refuse(ctx, may_hold_key=False):
            return
        await ctx.defer(ephemeral=True)
        result = await self.bot.api.verify_credential(ctx.author.id, provider.strip().lower())
        verdict = "works" if result.get("valid") else "does not work"
        await ctx.send(f"Your {provider} key {verdict}. {result.get('message', '')}".strip(), ephemeral=True)

    # -- relationship profiles ------------------------------------------------------------------------

    # Every profile reply carries the user's own words: never let them ping anyone.
    async def _say(self, ctx: commands.Context[Any], content: str | None = None, **kwargs: Any) -> None:
        await ctx.send(content, ephemeral=True, allowed_mentions=NO_MENTIONS, **kwargs)

    @tz.group(name="profile", invoke_without_command=True)
    async def profile(self, ctx: commands.Context[Any]) -> None:
        """What a character calls you and knows about you."""
        await ctx.send(PROFILE_HELP, ephemeral=True)

    @profile.command(name="show")
    @app_commands.describe(name="The character's name")
    async def profile_show(self, ctx: commands.Context[Any], *, name: str) -> None:
        """Your profile with a character."""
        await ctx.defer(ephemeral=True)
        person = await self._personality(name)
        profile = await self.bot.api.get_profile(ctx.author.id, personality=person.slug)
        if profile is None:
            await self._say(
                ctx,
                f"You have no profile with **{person.shown_name}** yet. Tell it what to call you with "
                f"`/tz profile set {person.slug} preferred_name <name>` (or `{P} profile set …`); "
                f"`{P} profile` lists what else you can set.",
            )
            return
        embed, overflow = profile_embed(person, profile)
        await self._say(ctx, embed=embed)
        for chunk in split_message(overflow) if overflow else ():
            await self._say(ctx, chunk)

    @profile.command(name="set")
    @app_commands.describe(
        name="The character's name",
        field="What to set",
        value="The new value; leave it out to clear the field",
    )
    @app_commands.choices(
        field=[
            app_commands.Choice(name="preferred name", value="preferred_name"),
            app_commands.Choice(name="pronouns", value="pronouns"),
            app_commands.Choice(name="backstory", value="backstory"),
        ]
    )
    async def profile_set(
        self, ctx: commands.Context[Any], name: str, field: str, *, value: str = ""
    ) -> None:
        """Set (or clear) your preferred name, pronouns or backstory with a character."""
        await ctx.defer(ephemeral=True)
        wanted = PROFILE_FIELD_WORDS.get(field.strip().casefold())
        if wanted is None:
            raise commands.BadArgument(
                f"“{field}” is not something a profile holds; choose `preferred_name`, `pronouns` or "
                f"`backstory` (facts: `add-fact`). A name of several words goes in quotes: "
                f'`{P} profile set "Dr Jekyll" pronouns she/her`.'
            )
        person = await self._personality(name)
        label = PROFILE_LABELS[wanted]
        # PATCH creates a missing profile: clearing a field must not leave an empty one behind.
        if (
            not value.strip()
            and await self.bot.api.get_profile(ctx.author.id, personality=person.slug) is None
        ):
            await self._say(ctx, f"You have no profile with **{person.shown_name}**; nothing to clear.")
            return
        try:
            stored = await self.bot.api.patch_profile(
                ctx.author.id, personality=person.slug, **{wanted: value}
            )
        except TzurotApiError as exc:
            if exc.status != 400:
                raise
            await self._say(ctx, f"Nothing was changed. {profile_problem(exc)}")
            return
        now = str(stored.get(wanted) or "")
        if not now:
            await self._say(ctx, f"Cleared your {label} with **{person.shown_name}**.")
        elif wanted == "preferred_name":
            await self._say(ctx, f"**{person.shown_name}** now calls you **{now}**.")
        else:
            await self._say(ctx, f"Saved your {label} with **{person.shown_name}**: {shorten(now, 300)}")

    @profile.command(name="add-fact")
    @app_commands.describe(name="The character's name", fact="Something it should keep in mind about you")
    async def profile_add_fact(self, ctx: commands.Context[Any], name: str, *, fact: str) -> None:
        """Add a notable fact the character keeps in mind about you."""
        await ctx.defer(ephemeral=True)
        person = await self._personality(name)
        profile = await self.bot.api.get_profile(ctx.author.id, personality=person.slug)
        facts = list((profile or {}).get("notable_facts") or [])
        # The API drops a repeated fact silently; say so instead of "added".
        if " ".join(fact.split()).casefold() in {known.casefold() for known in facts}:
            await self._say(ctx, f"**{person.shown_name}** already keeps that in mind.")
            return
        try:
            stored = await self.bot.api.patch_profile(
                ctx.author.id, personality=person.slug, notable_facts=[*facts, fact]
            )
        except TzurotApiError as exc:
            if exc.status != 400:
                raise
            await self._say(ctx, f"Nothing was added. {profile_problem(exc)}")
            return
        count = len(stored.get("notable_facts") or [])
        await self._say(ctx, f"Added fact {count} to your profile with **{person.shown_name}**.")

    @profile.command(name="remove-fact")
    @app_commands.describe(
        name="The character's name", number="The fact's number, as `profile show` lists it"
    )
    async def profile_remove_fact(self, ctx: commands.Context[Any], name: str, number: int) -> None:
        """Remove one notable fact (by its number in `profile show`)."""
        await ctx.defer(ephemeral=True)
        person = await self._personality(name)
        profile = await self.bot.api.get_profile(ctx.author.id, personality=person.slug)
        facts = list((profile or {}).get("notable_facts") or [])
        if not 1 <= number <= len(facts):
            await self._say(
                ctx,
                f"Your profile with **{person.shown_name}** has no fact number {number}; "
                f"`{P} profile show {person.slug}` lists them numbered.",
            )
            return
        removed = facts.pop(number - 1)
        await self.bot.api.patch_profile(ctx.author.id, personality=person.slug, notable_facts=facts)
        await self._say(ctx, f"Removed fact {number} (“{shorten(removed, 200)}”).")

    @profile.command(name="clear")
    @app_commands.describe(name="The character's name")
    async def profile_clear(self, ctx: commands.Context[Any], *, name: str) -> None:
        """Delete your whole profile with a character."""
        # No confirmation, unlike `forget`: a profile is a few lines the user wrote and
        # can write again, and `show` lets them keep a copy first.
        await ctx.defer(ephemeral=True)
        person = await self._personality(name)
        if await self.bot.api.delete_profile(ctx.author.id, personality=person.slug):
            text = (
                f"Deleted your profile with **{person.shown_name}**: it no longer knows your preferred name, "
                "pronouns, backstory or notable facts."
            )
        else:
            text = f"You had no profile with **{person.shown_name}**."
        await self._say(ctx, text)

    @profile_show.autocomplete("name")
    @profile_set.autocomplete("name")
    @profile_add_fact.autocomplete("name")
    @profile_remove_fact.autocomplete("name")
    @profile_clear.autocomplete("name")
    async def _profile_names(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self.name_autocomplete(interaction, current)

    # -- errors -----------------------------------------------------------------------------------

    async def cog_command_error(self, ctx: commands.Context[Any], error: Exception) -> None:
        original = error
        wrappers = (commands.CommandInvokeError, commands.HybridCommandError, app_commands.CommandInvokeError)
        while isinstance(original, wrappers):
            original = original.original
        if isinstance(original, TzurotApiError):
            text = f"That did not work: {original.message}"
        elif isinstance(original, BackendUnavailable):
            text = UNAVAILABLE
        elif isinstance(original, commands.MissingPermissions):
            text = "You need the Manage Messages permission in this channel to do that."
        elif isinstance(original, commands.NoPrivateMessage):
            text = "That only works in a server channel."
        elif isinstance(original, commands.MissingRequiredArgument):
            text = f"Something is missing: `{original.param.name}`. `{P} help` shows how."
        elif isinstance(original, commands.UserInputError):
            text = str(original)
        else:
            log.error(
                "Command %s failed", ctx.command.qualified_name if ctx.command else "?", exc_info=original
            )
            text = "Something went wrong on my side; it has been logged."
        try:
            await ctx.send(text, ephemeral=True)
        except discord.HTTPException:
            log.warning("Could not report a command error to the user")


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def profile_problem(exc: TzurotApiError) -> str:
    """The API's 400 about a profile, worded for the user: "<field>: <what is wrong>"."""
    fields = exc.details.get("fields")
    if not isinstance(fields, dict) or not fields:
        return exc.message
    name, problem = next(iter(fields.items()))
    if name not in PROFILE_LABELS:
        return exc.message
    # Dig out the first message: a list item's problem comes as {"3": ["…"]}.
    while isinstance(problem, dict | list) and problem:
        problem = next(iter(problem.values())) if isinstance(problem, dict) else problem[0]
    label = PROFILE_LABELS[name]
    return f"{label[:1].upper()}{label[1:]}: {problem}"


def profile_embed(person: PersonalityInfo, profile: dict[str, Any]) -> tuple[discord.Embed, str]:
    """The profile as an embed, and the numbered facts as text when they do not fit in it.

    Discord caps an embed field at 1,024 characters; a profile may hold 30 facts
    of 300, so a long list is sent after the embed instead of being cut.
    """
    backstory = str(profile.get("backstory") or "")
    embed = discord.Embed(
        title=shorten(f"Your profile with {person.shown_name}", 256),
        description=f"**Backstory**\n{backstory or NOT_SET}",  # ≤ 4,000 + heading: within 4,096
    )
    if person.avatar:
        embed.set_thumbnail(url=person.avatar)
    embed.add_field(name="Preferred name", value=str(profile.get("preferred_name") or NOT_SET))
    embed.add_field(name="Pronouns", value=str(profile.get("pronouns") or NOT_SET))
    facts = [str(fact) for fact in profile.get("notable_facts") or []]
    listed = "\n".join(f"{number}. {fact}" for number, fact in enumerate(facts, start=1))
    overflow = ""
    if not facts:
        embed.add_field(name="Notable facts", value=NOT_SET, inline=False)
    elif len(listed) <= EMBED_FIELD_LIMIT:
        embed.add_field(name="Notable facts", value=listed, inline=False)
    else:
        embed.add_field(name="Notable facts", value=f"{len(facts)}, listed below.", inline=False)
        overflow = "**Notable facts**\n" + listed
    embed.set_footer(text="Change it: /tz profile set · add-fact · remove-fact · clear")
    return embed, overflow
