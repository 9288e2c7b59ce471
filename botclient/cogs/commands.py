"""The ``tz`` command group: ``!tz …`` and ``/tz …`` (hybrid commands).

Slash commands acknowledge at once (``ctx.defer``) before calling the API, so
Discord's 3-second limit holds however slow the backend is. Answers about the
user alone are ephemeral. Key commands accept a key only where nobody else
can read it: the slash command (ephemeral) or a DM; a key typed with the
prefix command in a server channel is deleted at once and never stored.
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
`/tz key set|remove|status|test` — your own LLM API key (slash command, only you see it; \
or `{P} key …` in a DM with me; never paste a key in a channel)
Every command also works as `/tz …`."""
KEY_EXPOSED = (
    "I deleted your message. Never send an API key in a server channel: anyone here may have seen it, "
    "so **consider that key exposed** and revoke it at your provider. Nothing was stored. Use the "
    "slash command `/tz key set` (only you see it) or send `!tz key set <provider> <key>` in a DM with me."
)
KEY_WHERE = "Key commands work as the slash command `/tz key …` (only you see the answer) or in a DM with me."


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
