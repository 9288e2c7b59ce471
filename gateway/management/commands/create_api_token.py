from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gateway.services import token_create


class Command(BaseCommand):
    help = (
        "Create an API token and print it (it is stored hashed and cannot be shown again). "
        "A --service token (the bot's) may act for any Discord user; otherwise give --user."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="A label, e.g. 'discord-bot' or 'alice-laptop'.")
        parser.add_argument("--service", action="store_true", help="May act for any user (for the bot).")
        parser.add_argument("--user", dest="user_id", default="", help="Discord user id the token acts for.")

    def handle(self, *args: Any, name: str, service: bool, user_id: str, **options: Any) -> None:
        if service and user_id:
            raise CommandError("Give either --service or --user, not both.")
        if not service and not user_id:
            raise CommandError("Give --user USER_ID (or --service for a token that acts for anyone).")
        if user_id and not user_id.isdigit():
            raise CommandError("--user must be a Discord user id (digits only).")
        token, raw = token_create(name=name, is_service=service, user_id=user_id)
        self.stderr.write(f"Created token {token}. Keep it secret; it will not be shown again.")
        self.stdout.write(raw)
