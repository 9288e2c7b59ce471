"""The bot's settings: a bad value stops start-up with one line naming it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, process_env


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DISCORD_SHARD_IDS": "0,1"}, "DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT"),
        ({"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "2"}, "DISCORD_SHARD_IDS must lie between 0 and"),
        (
            {"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "a"},
            "DISCORD_SHARD_IDS must be a comma-separated",
        ),
        ({"BOT_HISTORY_LIMIT": "-1"}, "BOT_HISTORY_LIMIT must be at least 0"),
        ({"BOT_MAX_PERSONALITIES_PER_MESSAGE": "0"}, "BOT_MAX_PERSONALITIES_PER_MESSAGE must be at least 1"),
        ({"DISCORD_GATEWAY_URL": "http://x"}, "DISCORD_GATEWAY_URL is not a valid URL"),
    ],
)
def test_bad_bot_settings_stop_start_up_with_one_line(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=process_env(TZUROT_VAR_DIR=str(tmp_path / "var"), **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
