"""``import_chat``: SillyTavern, SpicyChat and generic chat files become memories, one per exchange."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError

from ingest.chats import parse_time
from ingest.models import MemoryOrigin
from memory.models import Memory
from personalities_app.models import Personality

from .conftest import CHATS, USER, report_lines, run, snapshot

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_embedder")]


@pytest.fixture(autouse=True)
def wren() -> Personality:
    return Personality.objects.create(slug="wren", name="Wren")


def texts() -> list[tuple[str, datetime]]:
    return list(Memory.objects.order_by("created_at").values_list("text", "created_at"))


def test_sillytavern_messages_are_grouped_into_exchanges_with_their_times() -> None:
    out, _ = run(
        "import_chat", str(CHATS / "wren-sillytavern.jsonl"), "--personality", "wren", "--user", USER
    )
    assert texts() == [
        ("Wren: The lamp is dark tonight, but the kettle is warm.", datetime(2024, 3, 1, 10, 0, tzinfo=UTC)),
        (
            "Ally: Hi Wren.\nAlly: I brought the jasmine tea you like.\n"
            "Wren: Jasmine tea, on a night like this? You spoil me.",
            datetime(2024, 3, 1, 10, 1, tzinfo=UTC),
        ),
        (
            "Ally: Tell me about the storm that broke the lamp.\n"
            "Wren: It burst the last bulb of the great lamp.\nWren: And it nearly took me with it.",
            datetime(2024, 3, 1, 10, 5, tzinfo=UTC),
        ),
    ]
    memory = Memory.objects.get(text__startswith="Ally: Hi Wren.")
    assert memory.source == "import" and memory.user_id == USER and memory.personality.slug == "wren"
    assert memory.source_id == "sillytavern:wren-sillytavern.jsonl#line 3..line 5"
    origin = MemoryOrigin.objects.get(memory=memory)
    assert origin.data["names"] == ["Ally", "Wren"] and origin.data["messages"] == "line 3..line 5"
    assert "memories     created 3, updated 0, skipped 0, failed 0" in out
    assert "10 messages (sillytavern) in 3 exchanges; left out: 1 empty message, 1 system message" in out


def test_spicychat_export_is_read_with_roles_and_millisecond_times() -> None:
    run("import_chat", str(CHATS / "wren-spicychat.json"), "--personality", "wren", "--user", USER)
    assert texts() == [
        ("Wren: Welcome back to Gull Point.", datetime(2024, 3, 9, 16, 0, tzinfo=UTC)),
        (
            "User: I missed the sound of the waves.\nWren: They missed you too, in their way.",
            datetime(2024, 3, 9, 16, 1, tzinfo=UTC),
        ),
        (
            "User: Can we watch the boats tomorrow?\nWren: At dawn, if the fog allows it.",
            datetime(2024, 3, 9, 16, 5, tzinfo=UTC),
        ),
    ]
    origin = MemoryOrigin.objects.get(memory__text__startswith="User: I missed")
    assert origin.format == "spicychat" and origin.data["ids"] == ["s2", "s3"]


def test_user_name_option_names_the_user_in_memories() -> None:
    run(
        "import_chat",
        str(CHATS / "wren-spicychat.json"),
        "--personality",
        "wren",
        "--user",
        USER,
        "--user-name",
        "Ally",
    )
    assert Memory.objects.filter(text__startswith="Ally: I missed the sound of the waves.").exists()


def test_generic_format_keeps_time_zones() -> None:
    run("import_chat", str(CHATS / "wren-generic.json"), "--personality", "wren", "--user", USER)
    assert texts() == [
        (
            "Ally: Do you keep a logbook?\nWren: Every night, even now that no ships need it.",
            datetime(2024, 4, 1, 18, 0, tzinfo=UTC),
        ),
        (
            "Ally: What did you write last night?\nWren: Only this: the visitor came back.",
            datetime(2024, 4, 1, 18, 2, tzinfo=UTC),
        ),
    ]


def test_importing_a_chat_twice_changes_nothing_and_dry_run_predicts_it() -> None:
    path = str(CHATS / "wren-sillytavern.jsonl")
    dry, _ = run("import_chat", path, "--personality", "wren", "--user", USER, "--dry-run")
    assert not Memory.objects.exists()
    first, _ = run("import_chat", path, "--personality", "wren", "--user", USER)
    assert report_lines(dry) == report_lines(first)
    before = snapshot()
    second, _ = run("import_chat", path, "--personality", "wren", "--user", USER)
    assert snapshot() == before
    assert "memories     created 0, updated 0, skipped 3, failed 0" in second


def test_long_runs_of_messages_are_split_at_message_boundaries(tmp_path: Path) -> None:
    lines = [{"user_name": "Ally", "character_name": "Wren"}]
    lines += [
        {"name": "Wren", "is_user": False, "send_date": 1709287200000 + i, "mes": f"{i} " + "x" * 900}
        for i in range(7)
    ]
    path = tmp_path / "long.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines))
    run("import_chat", str(path), "--personality", "wren", "--user", USER)
    parts = [text for text, _ in texts()]
    assert [len(part.splitlines()) for part in parts] == [3, 3, 1]
    assert all(len(part) <= 3000 for part in parts)


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        (
            '{"user_name": "Ally"}\n{"name": "Ally", "is_user": true, "mes": "hi"\n',
            "bad.jsonl",
            "bad.jsonl: line 2, column 46: invalid JSON: Expecting ',' delimiter",
        ),
        (
            '{"user_name": "Ally"}\n{"name": "Ally", "mes": "hi"}\n',
            "missing.jsonl",
            "missing.jsonl: line 2: is_user: required, and missing",
        ),
        (
            '{"user_name": "Ally"}\n{"name": "Ally", "is_user": "yes", "mes": "hi"}\n',
            "type.jsonl",
            "type.jsonl: line 2: is_user: must be true or false, not text",
        ),
        (
            '{"format": "tzurot-chat-v1", "messages": [{"role": "user", "content": 5}]}',
            "generic.json",
            "generic.json: messages[0].content: must be text, not a number",
        ),
        (
            '{"format": "tzurot-chat-v1", "messages": [{"role": "friend", "content": "x"}]}',
            "role.json",
            "role.json: messages[0].role: must be 'user' or 'character', not 'friend'",
        ),
        (
            '{"messages": [{"role": "bot"}]}',
            "spicy.json",
            "spicy.json: messages[0].content: required, and missing",
        ),
        ('{"something": "else"}', "other.json", "other.json: no list of messages found"),
    ],
)
def test_malformed_chat_names_the_file_position_and_field(
    tmp_path: Path, content: str, name: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(CommandError) as caught:
        run("import_chat", str(path), "--personality", "wren", "--user", USER)
    assert f"{tmp_path}/{expected}" in str(caught.value)
    assert not Memory.objects.exists()


def test_unknown_personality_or_bad_user_is_refused() -> None:
    path = str(CHATS / "wren-generic.json")
    with pytest.raises(CommandError, match="There is no personality 'nobody'"):
        run("import_chat", path, "--personality", "nobody", "--user", USER)
    with pytest.raises(CommandError, match="must be a Discord user id"):
        run("import_chat", path, "--personality", "wren", "--user", "alice")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1709287260000, datetime(2024, 3, 1, 10, 1, tzinfo=UTC)),
        (1709287260, datetime(2024, 3, 1, 10, 1, tzinfo=UTC)),
        ("2024-03-01T10:01:00Z", datetime(2024, 3, 1, 10, 1, tzinfo=UTC)),
        ("2024-03-01T12:01:00+02:00", datetime(2024, 3, 1, 10, 1, tzinfo=UTC)),
        ("March 1, 2024 10:01am", datetime(2024, 3, 1, 10, 1, tzinfo=UTC)),
        ("2024-03-01 @10h 01m 00s 000ms", datetime(2024, 3, 1, 10, 1, tzinfo=UTC)),
        ("next tuesday", None),
        (-5, None),
    ],
)
def test_message_times_in_the_forms_chat_apps_write(value: object, expected: datetime | None) -> None:
    assert parse_time(value) == expected
