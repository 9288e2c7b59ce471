"""``python manage.py runbot``: run the Discord bot until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
from typing import Any

import discord
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from botclient.bot import run_bot
from botclient.config import BotConfig


class Command(BaseCommand):
    help = "Run the Discord bot (needs DISCORD_TOKEN and BOT_SERVICE_TOKEN)."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            config = BotConfig.from_settings()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        try:
            asyncio.run(run_bot(config))
        except discord.LoginFailure:
            raise CommandError("Discord refused DISCORD_TOKEN: check the bot's token.") from None
        except discord.PrivilegedIntentsRequired:
            raise CommandError(
                "Enable the Message Content intent for the bot in Discord's developer portal."
            ) from None
