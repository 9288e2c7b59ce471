"""``loadpersonalities`` / ``dumppersonalities`` and the bundled personalities."""

from __future__ import annotations

import json
import shutil
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.forms.models import model_to_dict
from PIL import Image

from personalities_app.models import Personality

BUNDLED = Path(settings.BASE_DIR) / "personalities"
BUNDLED_SLUGS = sorted(path.stem for path in BUNDLED.glob("*.json"))


def load(*args: str) -> str:
    out = StringIO()
    call_command("loadpersonalities", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def snapshot() -> dict[str, dict[str, Any]]:
    return {
        p.slug: {**model_to_dict(p, exclude=["avatar_image", "id"]), "avatar_image": p.avatar_image.name}
        for p in Personality.objects.all()
    }


def media_files() -> set[Path]:
    return {path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()}


@pytest.fixture
def bundle_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "bundle"
    shutil.copytree(BUNDLED, folder)
    return folder


def edit(path: Path, **changes: Any) -> None:
    document = json.loads(path.read_text())
    document.update(changes)
    path.write_text(json.dumps(document, indent=2))


def test_at_least_five_distinct_bundled_personalities_with_small_png_avatars() -> None:
    assert len(BUNDLED_SLUGS) >= 5
    names, greetings, avatars = set(), set(), set()
    for slug in BUNDLED_SLUGS:
        document = json.loads((BUNDLED / f"{slug}.json").read_text())
        for field in ("greeting", "error_message", "example_dialogue", "character_info", "tone"):
            assert document[field].strip(), f"{slug} has no {field}"
        names.add(document["name"])
        greetings.add(document["greeting"])
        avatar = BUNDLED / document["avatar_file"]
        assert avatar.stat().st_size < 100 * 1024
        with Image.open(avatar) as image:
            assert image.format == "PNG" and image.size == (256, 256)
        avatars.add(avatar.read_bytes())
    assert len(names) == len(greetings) == len(avatars) == len(BUNDLED_SLUGS)


@pytest.mark.django_db
def test_loading_twice_creates_everything_then_reports_all_unchanged() -> None:
    first = load()
    assert Personality.objects.count() == len(BUNDLED_SLUGS)
    for slug in BUNDLED_SLUGS:
        assert f"created   {slug}" in first
    assert first.strip().endswith(f"{len(BUNDLED_SLUGS)} created, 0 updated, 0 unchanged")
    before = snapshot()

    second = load()

    assert second.strip().endswith(f"0 created, 0 updated, {len(BUNDLED_SLUGS)} unchanged")
    assert snapshot() == before


@pytest.mark.django_db
def test_bundled_avatar_is_stored_and_served_under_the_public_base_url() -> None:
    load()
    pip = Personality.objects.get(slug="pip")
    assert pip.avatar_image.name.startswith("avatars/pip-")
    assert pip.avatar.startswith(f"{settings.PUBLIC_BASE_URL}/media/avatars/pip-")
    with pip.avatar_image.open("rb") as handle:
        assert handle.read() == (BUNDLED / "avatars" / "pip.png").read_bytes()


@pytest.mark.django_db
def test_dry_run_reports_but_writes_nothing(bundle_copy: Path) -> None:
    files_before = media_files()
    output = load(str(bundle_copy), "--dry-run")
    assert f"{len(BUNDLED_SLUGS)} created" in output and "dry run: nothing was written" in output
    assert Personality.objects.count() == 0
    assert media_files() == files_before

    load(str(bundle_copy))
    before = snapshot()
    edit(bundle_copy / "pip.json", greeting="Beep. Changed.")
    output = load(str(bundle_copy), "--dry-run")
    assert "updated   pip (greeting)" in output
    assert snapshot() == before


@pytest.mark.django_db
def test_a_changed_file_updates_only_that_personality(bundle_copy: Path) -> None:
    load(str(bundle_copy))
    edit(bundle_copy / "dex.json", tone="Cheerful.", temperature=0.2)
    (bundle_copy / "avatars" / "vesper.png").write_bytes((bundle_copy / "avatars" / "pip.png").read_bytes())

    output = load(str(bundle_copy))

    assert "updated   dex (tone, temperature)" in output
    assert "updated   vesper (avatar_image)" in output
    assert output.strip().endswith(f"0 created, 2 updated, {len(BUNDLED_SLUGS) - 2} unchanged")
    dex = Personality.objects.get(slug="dex")
    assert (dex.tone, dex.temperature) == ("Cheerful.", 0.2)


MALFORMED = [
    pytest.param(
        '{"slug": "bad", "name": "Bad",\n  "greeting": "hi" "oops"}', "line 2, column 20", id="json-syntax"
    ),
    pytest.param({"slug": "bad"}, "field 'name': required", id="missing-name"),
    pytest.param(
        {"slug": "bad", "name": "Bad", "temperature": "hot"},
        "field 'temperature': must be a number",
        id="type",
    ),
    pytest.param(
        {"slug": "bad", "name": "Bad", "aliases": "Baddie"},
        "field 'aliases': must be a list",
        id="aliases-type",
    ),
    pytest.param({"slug": "Bad Slug", "name": "Bad"}, "field 'slug': ", id="slug-format"),
    pytest.param(
        {"slug": "bad", "name": "Clyde Bot"}, "field 'name': Discord does not allow 'clyde'", id="name-rule"
    ),
    pytest.param(
        {"slug": "bad", "name": "Bad", "temperature": 3}, "field 'temperature': ", id="temperature-range"
    ),
    pytest.param(
        {"slug": "bad", "name": "Bad", "memory_scope": "galaxy"}, "field 'memory_scope': ", id="choice"
    ),
    pytest.param(
        {"slug": "bad", "name": "Bad", "aliases": ["B", "b"]},
        "field 'aliases': Alias 'b' is listed twice",
        id="alias-dup",
    ),
    pytest.param(
        {"slug": "bad", "name": "Bad", "avatar_url": "http://x.test/a.png"},
        "field 'avatar_url': ",
        id="http-avatar",
    ),
    pytest.param(
        {"slug": "bad", "name": "Bad", "greting": "hi"}, "field 'greting': unknown field", id="unknown-field"
    ),
    pytest.param(
        {"slug": "bad", "name": "Bad", "avatar_file": "avatars/none.png"},
        "field 'avatar_file': no such image",
        id="avatar-missing",
    ),
    pytest.param(
        {"slug": "bad", "name": "Bad", "avatar_file": "zz-bad.json"},
        "field 'avatar_file': not a readable image",
        id="avatar-not-image",
    ),
    pytest.param(
        {"slug": "pip", "name": "Pip again"}, "field 'slug': slug 'pip' is also used by", id="duplicate-slug"
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("content", "expected"), MALFORMED)
def test_a_malformed_file_changes_nothing_and_names_the_file_and_field(
    bundle_copy: Path, content: Any, expected: str
) -> None:
    load(str(bundle_copy))
    before = snapshot()
    edit(bundle_copy / "hemlock.json", greeting="A good change that must not be applied either.")
    bad = bundle_copy / "zz-bad.json"
    bad.write_text(content if isinstance(content, str) else json.dumps(content))
    files_before = media_files()

    with pytest.raises(CommandError) as error:
        load(str(bundle_copy))

    message = str(error.value)
    assert message.startswith(f"Nothing was loaded. {bad}: "), message
    assert expected in message
    assert snapshot() == before
    assert media_files() == files_before


@pytest.mark.django_db
def test_one_file_can_be_loaded_on_its_own() -> None:
    output = load(str(BUNDLED / "marigold.json"))
    assert output.strip().endswith("1 created, 0 updated, 0 unchanged")
    assert list(Personality.objects.values_list("slug", flat=True)) == ["marigold"]


@pytest.mark.django_db
def test_a_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no such file or folder"):
        load(str(tmp_path / "nope"))


@pytest.mark.django_db
def test_dump_writes_the_loader_format_back_and_loads_unchanged(tmp_path: Path) -> None:
    load()
    out = StringIO()
    call_command("dumppersonalities", str(tmp_path / "dump"), stdout=out)
    assert f"Wrote {len(BUNDLED_SLUGS)} personalities" in out.getvalue()

    for slug in BUNDLED_SLUGS:
        # Byte for byte: dumping into personalities/ leaves no diff behind.
        assert (tmp_path / "dump" / f"{slug}.json").read_bytes() == (BUNDLED / f"{slug}.json").read_bytes()
        assert (tmp_path / "dump" / "avatars" / f"{slug}.png").read_bytes() == (
            BUNDLED / "avatars" / f"{slug}.png"
        ).read_bytes()
    assert load(str(tmp_path / "dump")).strip().endswith(f"{len(BUNDLED_SLUGS)} unchanged")


@pytest.mark.django_db
def test_dump_of_one_slug_and_of_an_unknown_slug(tmp_path: Path) -> None:
    load()
    call_command("dumppersonalities", str(tmp_path), "--slug", "vesper", stdout=StringIO())
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["vesper.json"]
    with pytest.raises(CommandError, match="nobody"):
        call_command("dumppersonalities", str(tmp_path), "--slug", "nobody", stdout=StringIO())


@pytest.mark.django_db
def test_bootstrap_loads_the_bundled_personalities_only_on_first_start() -> None:
    out = StringIO()
    call_command("bootstrap", stdout=out)
    assert f"Loaded {len(BUNDLED_SLUGS)} bundled personalities" in out.getvalue()
    assert sorted(Personality.objects.values_list("slug", flat=True)) == BUNDLED_SLUGS

    # The operator's edits and deletions survive the next start.
    Personality.objects.filter(slug="dex").update(greeting="Edited by the operator.")
    Personality.objects.filter(slug="pip").delete()
    out = StringIO()
    call_command("bootstrap", stdout=out)

    assert "bundled personalities" not in out.getvalue()
    assert Personality.objects.get(slug="dex").greeting == "Edited by the operator."
    assert not Personality.objects.filter(slug="pip").exists()
