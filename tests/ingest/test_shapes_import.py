"""``import_shapes``: a Shapes.inc backup becomes a personality, knowledge, a profile and memories."""

from __future__ import annotations

import json
import shutil
import tarfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError

from ingest.models import MemoryOrigin
from memory.models import Memory
from personalities_app.models import KnowledgeEntry, Personality, RelationshipProfile

from .conftest import USER, WREN, report_lines, run, snapshot

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_embedder")]

SLUG = "wren-of-the-lantern"


def test_backup_becomes_personality_knowledge_profile_and_memories() -> None:
    out, _ = run("import_shapes", str(WREN), "--user", USER)

    wren = Personality.objects.get(slug=SLUG)
    assert wren.name == "Wren"
    assert wren.avatar_url == "https://files.shapes.inc/avatars/wren.png"
    assert wren.system_prompt.startswith("You are Wren, keeper of a lighthouse")
    assert wren.character_info == (
        "Wren is a quiet lighthouse keeper in her thirties who lives alone on Gull Point.\n\n"
        "Age: 34\n\nAppearance: A salt-grey coat and ink-stained fingers.\n\n"
        "Conversational goals: Make the person she talks to feel safe."
    )
    assert (wren.traits, wren.tone, wren.likes, wren.dislikes) == (
        "Gentle, patient, wry.",
        "Soft-spoken, full of sea metaphors.",
        "Storms, strong tea, old maps.",
        "Fog horns at dawn.",
    )
    assert wren.scenario.startswith("The lighthouse on Gull Point was switched off")
    assert wren.example_dialogue.startswith("{{user}}: Is the lamp lit?")
    assert (wren.model, wren.temperature) == ("openai/gpt-4o-mini", 0.9)
    assert (wren.memory_enabled, wren.memory_threshold, wren.memory_top_k) == (True, 0.3, 6)
    assert wren.error_message == "The lamp flickers... say that again?"
    # Keywords are search tags, not names it answers to.
    assert wren.aliases == []
    kept = wren.extensions["shapes_inc"]
    assert kept["id"] == "5c1f7e2a-3b4d-4e8f-9a0b-1c2d3e4f5a6b"
    assert kept["keywords"] == ["lighthouse", "cozy", "sea"]
    assert kept["custom_settings"] == {"voice": "alto", "nsfw": False}
    assert kept["stm_window"] == 20 and kept["engine_top_p"] == 0.95
    assert kept["fallback_engine_model"] == "meta-llama/llama-3-70b-instruct"
    assert kept["search_description"] == "A gentle lighthouse keeper who listens."
    assert "jailbreak" not in kept and "username" not in kept

    entries = {entry.source_id: entry for entry in KnowledgeEntry.objects.filter(personality=wren)}
    assert set(entries) == {"story-lighthouse", "story-promise"}
    lighthouse = entries["story-lighthouse"]
    assert lighthouse.title == "The Lighthouse" and lighthouse.keywords == ["The Lighthouse"]
    assert lighthouse.source == "shapes" and lighthouse.metadata["story_type"] == "general"
    assert lighthouse.embedding_status == "ready" and lighthouse.embedding is not None

    profile = RelationshipProfile.objects.get(personality=wren, user_id=USER)
    assert (profile.preferred_name, profile.pronouns) == ("Ally", "she/her")
    assert profile.backstory.startswith("Ally met Wren on a stormy night")
    # Sentences about Ally by the documented rule, newest memory first (the nurse one is
    # also the newest record, m-0050), each once; "Wren and Ally argued…" is not about Ally.
    assert profile.notable_facts == [
        "Ally works as a night-shift nurse at Saint Brigid hospital and finds the quiet hours lonely.",
        "Ally's sister Joanna is getting married in June, and Ally is nervous about giving the speech.",
        "Ally adopted a grey cat named Biscuit.",
    ]

    memories = {m.source_id: m for m in Memory.objects.filter(personality=wren, user_id=USER)}
    assert set(memories) == {
        "shapes:m-0001/m-0004",
        "shapes:m-0010/m-0012",
        "shapes:m-0020/m-0025",
        "shapes:m-0040/m-0044",
    }
    cat = memories["shapes:m-0001/m-0004"]
    assert cat.text.startswith("Ally adopted a grey cat named Biscuit.")
    assert cat.source == "import" and cat.embedding_status == "ready"
    assert cat.created_at == datetime.fromtimestamp(1700000700.5, tz=UTC)
    assert (cat.channel_id, cat.guild_id) == ("1111111111111111111", "2222222222222222222")
    origin = MemoryOrigin.objects.get(memory=cat)
    assert origin.format == "shapes" and origin.external_id == "m-0001/m-0004"
    assert origin.data["msg_ids"] == ["m-0001", "m-0002", "m-0003", "m-0004"]
    assert origin.data["senders"] == ["u-ally", "5c1f7e2a-3b4d-4e8f-9a0b-1c2d3e4f5a6b"]
    assert origin.data["start_ts"] == 1700000000 and origin.data["summary_type"] == "automatic"
    # The same text twice in the backup: one memory, both origins kept.
    nurse = memories["shapes:m-0010/m-0012"]
    assert sorted(o.external_id for o in nurse.origins.all()) == ["m-0010/m-0012", "m-0050/m-0052"]

    assert "personality  created 1, updated 0, skipped 0, failed 0" in out
    assert "knowledge    created 2, updated 0, skipped 1, failed 0" in out
    assert "profile      created 1, updated 0, skipped 0, failed 0" in out
    assert "memories     created 4, updated 0, skipped 4, failed 0" in out
    for reason in (
        "skipped: deleted on Shapes.inc: 1",
        "skipped: belongs to another shape: 1",
        "skipped: empty text: 1",
        "skipped: same text as another record of the file: 1",
        "skipped: empty content: 1",
    ):
        assert reason in out, out
    assert "not imported: wren/.backup-metadata.json" not in out  # names are relative to the backup
    assert "not imported: .backup-metadata.json, wren-of-the-lantern_chat_history.json" in out


def test_importing_the_same_backup_twice_changes_nothing() -> None:
    run("import_shapes", str(WREN), "--user", USER)
    before = snapshot()
    out, _ = run("import_shapes", str(WREN), "--user", USER)
    assert snapshot() == before
    assert "personality  created 0, updated 0, skipped 1, failed 0" in out
    assert "knowledge    created 0, updated 0, skipped 3, failed 0" in out
    assert "profile      created 0, updated 0, skipped 1, failed 0" in out
    assert "memories     created 0, updated 0, skipped 8, failed 0" in out
    assert "skipped: already in memory: 4" in out


def test_dry_run_writes_nothing_and_prints_the_same_report() -> None:
    dry, _ = run("import_shapes", str(WREN), "--user", USER, "--dry-run")
    assert snapshot() == {"personalities": {}, "memories": [], "knowledge": [], "profiles": []}
    assert not MemoryOrigin.objects.exists()
    assert dry.splitlines()[-1] == "dry run: nothing was written"
    real, _ = run("import_shapes", str(WREN), "--user", USER)
    assert report_lines(dry) == report_lines(real)
    # And on top of an existing import: the dry run predicts the second run.
    before = snapshot()
    again_dry, _ = run("import_shapes", str(WREN), "--user", USER, "--dry-run")
    assert snapshot() == before
    again, _ = run("import_shapes", str(WREN), "--user", USER)
    assert report_lines(again_dry) == report_lines(again)


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_archives_import_like_the_folder(tmp_path: Path, kind: str) -> None:
    archive = tmp_path / f"wren.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as out:
            for path in WREN.iterdir():
                out.write(path, f"wren/{path.name}")
    else:
        with tarfile.open(archive, "w:gz") as out:
            out.add(WREN, arcname="wren")
    out, _ = run("import_shapes", str(archive), "--user", USER)
    assert "memories     created 4, updated 0, skipped 4, failed 0" in out
    assert Memory.objects.filter(user_id=USER).count() == 4


def test_one_file_export_imports_like_the_folder(tmp_path: Path) -> None:
    read = lambda name: json.loads((WREN / name).read_text())  # noqa: E731
    export = {
        "exportedAt": "2026-01-01T00:00:00Z",
        "sourceSlug": SLUG,
        "config": read(f"{SLUG}.json"),
        "memories": read(f"{SLUG}_memories.json"),
        "stories": read(f"{SLUG}_knowledge.json"),
        "userPersonalization": read(f"{SLUG}_user_personalization.json"),
    }
    path = tmp_path / "wren-export.json"
    path.write_text(json.dumps(export))
    out, _ = run("import_shapes", str(path), "--user", USER)
    assert "memories     created 4, updated 0, skipped 4, failed 0" in out
    assert RelationshipProfile.objects.get(user_id=USER).preferred_name == "Ally"


def edit_json(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document, indent=2))


@pytest.mark.parametrize(
    ("file", "breakage", "expected"),
    [
        (
            f"{SLUG}_memories.json",
            lambda path: path.write_text(path.read_text().replace('"result":', '"result"', 1)),
            f"{SLUG}_memories.json: line 9, column 14: invalid JSON: Expecting ':' delimiter",
        ),
        (
            f"{SLUG}_memories.json",
            lambda path: edit_json(path, lambda doc: doc[2].pop("result")),
            f"{SLUG}_memories.json: [2].result: required, and missing",
        ),
        (
            f"{SLUG}_memories.json",
            lambda path: edit_json(path, lambda doc: doc[4]["metadata"].update(start_ts="yesterday")),
            f"{SLUG}_memories.json: [4].metadata.start_ts: must be number, not text",
        ),
        (
            f"{SLUG}.json",
            lambda path: edit_json(path, lambda doc: doc.update(engine_temperature="warm")),
            f"{SLUG}.json: engine_temperature: must be number, not text",
        ),
        (
            f"{SLUG}.json",
            lambda path: edit_json(path, lambda doc: doc.update(name="Discord Wren")),
            f"{SLUG}.json: name: Discord does not allow 'discord' in a webhook name",
        ),
        (
            f"{SLUG}_knowledge.json",
            lambda path: edit_json(path, lambda doc: doc[1].update(content=["a", "list"])),
            f"{SLUG}_knowledge.json: [1].content: must be text, not a list",
        ),
        (
            f"{SLUG}_user_personalization.json",
            lambda path: edit_json(path, lambda doc: doc.update(pronouns=3)),
            f"{SLUG}_user_personalization.json: pronouns: must be text, not a number",
        ),
    ],
    ids=[
        "bad-json",
        "missing-field",
        "wrong-type",
        "config-wrong-type",
        "invalid-name",
        "story-type",
        "personal",
    ],
)
def test_malformed_file_names_file_position_and_field_and_changes_nothing(
    wren: Path,
    file: str,
    breakage,
    expected: str,  # type: ignore[no-untyped-def]
) -> None:
    # A first import, then a broken backup: the personality must stay as it was.
    run("import_shapes", str(WREN), "--user", USER)
    Personality.objects.filter(slug=SLUG).update(greeting="Kept by the operator.")
    before = snapshot()
    (wren / f"{SLUG}_memories.json").write_text(
        (wren / f"{SLUG}_memories.json").read_text().replace("Biscuit", "Crumpet")
    )  # a change that would be imported if the backup were readable
    breakage(wren / file)
    with pytest.raises(CommandError) as caught:
        run("import_shapes", str(wren), "--user", USER)
    message = str(caught.value)
    assert message.startswith("Nothing was imported. ")
    assert f"{wren}/{expected}" in message, message
    assert snapshot() == before


def test_a_record_with_an_unusable_value_fails_alone_and_is_reported(wren: Path) -> None:
    edit_json(
        wren / f"{SLUG}_memories.json",
        lambda doc: doc[0]["metadata"].update(discord_channel_id="general-chat"),
    )
    out, _ = run("import_shapes", str(wren), "--user", USER)
    assert "memories     created 3, updated 0, skipped 4, failed 1" in out
    assert (
        f"failed: memories {SLUG}_memories.json [0]: metadata.discord_channel_id is not a Discord id (digits)"
        in out
    )
    assert not Memory.objects.filter(text__contains="Biscuit").exists()


def test_user_comes_from_the_personalization_file_when_it_carries_one(wren: Path) -> None:
    with pytest.raises(CommandError, match="Give --user DISCORD_USER_ID"):
        run("import_shapes", str(wren))
    edit_json(wren / f"{SLUG}_user_personalization.json", lambda doc: doc.update(discord_user_id="555000111"))
    run("import_shapes", str(wren))
    assert Memory.objects.filter(user_id="555000111").count() == 4
    with pytest.raises(CommandError, match="is for Discord user 555000111, not 777"):
        run("import_shapes", str(wren), "--user", "777")


def test_reimport_keeps_what_the_user_wrote_in_their_profile_and_the_operator_set(wren: Path) -> None:
    run("import_shapes", str(WREN), "--user", USER)
    profile = RelationshipProfile.objects.get(user_id=USER)
    profile.preferred_name = "Alexandra"
    profile.notable_facts = ["Ally is allergic to cats."]
    profile.save()
    entry = KnowledgeEntry.objects.get(source_id="story-promise")
    entry.enabled = False
    entry.save()
    Personality.objects.filter(slug=SLUG).update(greeting="Hello, traveller.", aliases=["Lantern"])
    edit_json(wren / f"{SLUG}.json", lambda doc: doc.update(personality_traits="Gentle, stubborn."))
    out, _ = run("import_shapes", str(wren), "--user", USER)
    profile.refresh_from_db()
    assert profile.preferred_name == "Alexandra"
    assert profile.notable_facts[0] == "Ally is allergic to cats." and len(profile.notable_facts) == 4
    assert not KnowledgeEntry.objects.get(source_id="story-promise").enabled
    wren_row = Personality.objects.get(slug=SLUG)
    assert (wren_row.traits, wren_row.greeting, wren_row.aliases) == (
        "Gentle, stubborn.",
        "Hello, traveller.",
        ["Lantern"],
    )
    assert "personality  created 0, updated 1, skipped 0, failed 0" in out
    assert "changed: traits" in out


def test_out_of_range_settings_are_brought_into_range_and_noted(wren: Path) -> None:
    edit_json(
        wren / f"{SLUG}.json", lambda doc: doc.update(engine_temperature=2.6, ltm_max_retrieved_summaries=80)
    )
    out, _ = run("import_shapes", str(wren), "--user", USER)
    wren_row = Personality.objects.get(slug=SLUG)
    assert (wren_row.temperature, wren_row.memory_top_k) == (2.0, 50)
    assert wren_row.extensions["shapes_inc"]["_original"] == {
        "engine_temperature": 2.6,
        "ltm_max_retrieved_summaries": 80,
    }
    assert "note: configuration: engine_temperature 2.6 is outside 0.0-2.0; imported as 2.0" in out


def test_progress_is_shown_as_lines_when_not_on_a_terminal(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    shutil.copytree(WREN, folder)
    memories = [
        {"id": f"x-{i}", "result": f"Ally mentioned detail number {i} about the harbour.", "metadata": {}}
        for i in range(1200)
    ]
    (folder / f"{SLUG}_memories.json").write_text(json.dumps(memories))
    out, err = run("import_shapes", str(folder), "--user", USER)
    lines = [line for line in err.splitlines() if line.startswith("memories: ")]
    assert lines[0].startswith("memories: 512/1,200 (42%)")
    assert lines[-1].startswith("memories: 1,200/1,200 (100%)")
    assert "\r" not in err
    assert "memories     created 1200" in out


def test_a_story_or_personalization_value_too_long_for_us_fails_alone(wren: Path) -> None:
    edit_json(wren / f"{SLUG}_knowledge.json", lambda doc: doc[1].update(content="x" * 20_001))
    edit_json(wren / f"{SLUG}_user_personalization.json", lambda doc: doc.update(pronouns="p" * 41))
    out, _ = run("import_shapes", str(wren), "--user", USER)
    assert "knowledge    created 1, updated 0, skipped 1, failed 1" in out
    assert f"failed: knowledge {SLUG}_knowledge.json [1]: content is longer than 20,000 characters" in out
    assert "profile      created 1, updated 0, skipped 0, failed 1" in out
    assert f"failed: profile {SLUG}_user_personalization.json pronouns: longer than 40 characters" in out
    profile = RelationshipProfile.objects.get(user_id=USER)
    assert (profile.preferred_name, profile.pronouns) == ("Ally", "")


def test_a_wrong_item_in_a_list_is_named_by_its_index(wren: Path) -> None:
    edit_json(wren / f"{SLUG}.json", lambda doc: doc.update(keywords=["sea", 7]))
    with pytest.raises(
        CommandError, match=r"wren-of-the-lantern.json: keywords\[1\]: must be text, not a number"
    ):
        run("import_shapes", str(wren), "--user", USER)
