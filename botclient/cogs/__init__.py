"""The bot's features, one cog each."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..bot import TzurotBot


async def setup_cogs(bot: TzurotBot) -> None:
    from .chat import Chat
    from .commands import TzCommands
    from .health import Liveness

    await bot.add_cog(Chat(bot))
    await bot.add_cog(TzCommands(bot))
    if bot.config.liveness_file:
        await bot.add_cog(Liveness(bot, bot.config.liveness_file, bot.config.liveness_interval))
