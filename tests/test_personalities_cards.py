"""Character Card V2: JSON and PNG import, export, and round trips."""

from __future__ import annotations

import base64
import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.forms.models import model_to_dict
from PIL import Image, PngImagePlugin

from personalities_app.io import (
    PersonalityFileError,
    personality_to_card,
    personality_to_png_card,
    read_upload,
)
from personalities_app.models import Personality
from personalities_app.services import personalities_upsert

from .personality_factories import make_personality, png_bytes

CARD: dict[str, Any] = {
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": {
        "name": "Juniper Ash",
        "description": "A cartographer of imaginary islands who sells maps to places that do not exist.",
        "personality": "Whimsical, precise about nonsense, generous.",
        "scenario": "{{user}} walks into {{char}}'s map shop on a foggy morning.",
        "first_mes": "Ah, a customer! Looking for somewhere that isn't anywhere?",
        "mes_example": "<START>\n{{user}}: Is this island real?\n{{char}}: Realer than Tuesday.",
        "creator_notes": "Works best with a playful model.",
        "system_prompt": "Write as {{char}}. Keep it light.",
        "post_history_instructions": "Stay whimsical.",
        "alternate_greetings": ["The fog brought you, I see.", "Mind the ink, it's still wet."],
        "character_book": {
            "name": "Islands",
            "entries": [
                {
                    "keys": ["Verrow"],
                    "content": "Verrow is an island that only appears on Thursdays.",
                    "extensions": {},
                    "enabled": True,
                    "insertion_order": 0,
                }
            ],
            "extensions": {},
        },
        "tags": ["fantasy", "whimsy"],
        "creator": "tzurot-tests",
        "character_version": "1.2",
        "extensions": {
            "talkativeness": "0.6",
            "some_frontend": {"depth_prompt": {"depth": 4, "prompt": "x"}},
        },
        "a_future_field": {"kept": True},
    },
}


def card_png(card: dict[str, Any], image: bytes | None = None) -> bytes:
    """A PNG card built the way other tools build them (Pillow's tEXt support)."""
    info = PngImagePlugin.PngInfo()
    info.add_text("chara", base64.b64encode(json.dumps(card).encode()).decode())
    out = io.BytesIO()
    Image.open(io.BytesIO(image or png_bytes((10, 120, 200), 64))).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def import_bytes(name: str, content: bytes) -> Personality:
    specs = read_upload(name, content)
    outcomes = personalities_upsert(specs=specs)
    return Personality.objects.get(slug=outcomes[0].slug)


@pytest.mark.django_db
def test_card_json_import_maps_the_documented_fields() -> None:
    personality = import_bytes("juniper.json", json.dumps(CARD).encode())

    data = CARD["data"]
    assert personality.slug == "juniper-ash"
    assert personality.name == data["name"]
    assert personality.character_info == data["description"]
    assert personality.traits == data["personality"]
    assert personality.scenario == data["scenario"]
    assert personality.greeting == data["first_mes"]
    assert personality.example_dialogue == data["mes_example"]
    assert personality.system_prompt == data["system_prompt"]
    kept = personality.extensions["chara_card_v2"]
    for key in (
        "creator_notes",
        "post_history_instructions",
        "alternate_greetings",
        "character_book",
        "tags",
        "creator",
        "character_version",
        "extensions",
        "a_future_field",
    ):
        assert kept[key] == data[key], key


@pytest.mark.django_db
def test_card_json_round_trip_gives_back_every_field() -> None:
    personality = import_bytes("juniper.json", json.dumps(CARD).encode())
    exported = personality_to_card(personality)
    assert exported["spec"] == "chara_card_v2" and exported["spec_version"] == "2.0"
    assert exported["data"] == CARD["data"]


@pytest.mark.django_db
def test_card_png_import_stores_the_image_without_the_card_as_avatar() -> None:
    personality = import_bytes("juniper.png", card_png(CARD))

    assert personality.character_info == CARD["data"]["description"]
    assert personality.avatar.endswith(".png") and "/media/avatars/juniper-ash-" in personality.avatar
    with personality.avatar_image.open("rb") as handle, Image.open(handle) as avatar:
        assert avatar.size == (64, 64)
        assert avatar.getpixel((3, 3))[:3] == (10, 120, 200)
        # The card (with its private prompt) is not served with the public avatar.
        assert "chara" not in avatar.text


@pytest.mark.django_db
def test_card_png_export_round_trip_keeps_every_field_and_the_picture() -> None:
    personality = import_bytes("juniper.png", card_png(CARD))
    exported = personality_to_png_card(personality)

    with Image.open(io.BytesIO(exported)) as image:
        card = json.loads(base64.b64decode(image.text["chara"]))
        assert image.getpixel((3, 3))[:3] == (10, 120, 200)
    assert card["data"] == CARD["data"]

    Personality.objects.all().delete()
    again = import_bytes("juniper.png", exported)
    assert personality_to_card(again)["data"] == CARD["data"]


@pytest.mark.django_db
def test_a_tzurot_personality_survives_a_trip_through_a_card() -> None:
    original = make_personality(
        slug="nova",
        name="Captain Nova",
        display_name="Cpt. Nova",
        aliases=["Nova", "Cap"],
        avatar_url="https://example.test/nova.png",
        system_prompt="You are {{char}}.",
        character_info="A starship captain.",
        traits="Bold.",
        tone="Clipped.",
        scenario="The bridge.",
        likes="Stars.",
        dislikes="Asteroids.",
        example_dialogue="{{user}}: Hi\n{{char}}: Report!",
        greeting="Captain on deck.",
        error_message="Static on the line.",
        model="some/model",
        temperature=1.1,
        max_output_tokens=300,
        memory_enabled=False,
        memory_scope="shared",
        memory_top_k=5,
        memory_threshold=0.5,
        extensions={"custom": {"x": 1}},
    )
    before = model_to_dict(original, exclude=["id"])
    card = json.dumps(personality_to_card(original)).encode()
    # Unknown to other tools, our fields travel in data.extensions.tzurot.
    assert json.loads(card)["data"]["extensions"]["tzurot"]["tone"] == "Clipped."
    original.delete()

    again = import_bytes("nova.card.json", card)

    assert model_to_dict(again, exclude=["id"]) == before


@pytest.mark.django_db
def test_card_import_keeps_deployment_state_of_an_existing_personality() -> None:
    personality = import_bytes("juniper.json", json.dumps(CARD).encode())
    Personality.objects.filter(pk=personality.pk).update(is_public=False, owner_user_id="42", is_active=False)
    changed = copy.deepcopy(CARD)
    changed["data"]["first_mes"] = "Back again?"

    again = import_bytes("juniper.json", json.dumps(changed).encode())

    assert again.greeting == "Back again?"
    assert (again.is_public, again.owner_user_id, again.is_active) == (False, "42", False)


@pytest.mark.django_db
def test_loadpersonalities_reads_png_and_json_cards_from_a_folder(tmp_path: Path) -> None:
    (tmp_path / "juniper.png").write_bytes(card_png(CARD))
    other = copy.deepcopy(CARD)
    other["data"]["name"] = "Other Card"
    (tmp_path / "other.json").write_text(json.dumps(other))

    call_command("loadpersonalities", str(tmp_path), stdout=io.StringIO())

    assert sorted(Personality.objects.values_list("slug", flat=True)) == ["juniper-ash", "other-card"]


def _with(path: str, value: Any) -> dict[str, Any]:
    card = copy.deepcopy(CARD)
    target = card
    *parents, last = path.split(".")
    for key in parents:
        target = target[key]
    target[last] = value
    return card


@pytest.mark.parametrize(
    ("card", "expected"),
    [
        (_with("spec", "chara_card_v3"), "field 'spec': unsupported card spec"),
        (_with("spec_version", "1.0"), "field 'spec_version'"),
        (_with("data.first_mes", 12), "field 'data.first_mes': must be text"),
        (_with("data.tags", "fantasy"), "field 'data.tags': must be a list of text"),
        (_with("data.name", "Clyde"), "field 'data.name': Discord does not allow 'clyde'"),
        (
            _with("data.extensions", {"tzurot": {"temperature": 9}}),
            "field 'data.extensions.tzurot.temperature'",
        ),
        (
            _with("data.extensions", {"tzurot": {"colour": "red"}}),
            "field 'data.extensions.tzurot.colour': unknown",
        ),
    ],
    ids=["spec", "version", "text-type", "list-type", "name-rule", "tzurot-value", "tzurot-unknown"],
)
def test_a_bad_card_is_refused_naming_the_field(card: dict[str, Any], expected: str) -> None:
    with pytest.raises(PersonalityFileError) as error:
        read_upload("card.json", json.dumps(card).encode())
    assert str(error.value).startswith("card.json: ")
    assert expected in str(error.value)


def test_a_v1_card_is_refused_with_a_message_saying_so() -> None:
    with pytest.raises(PersonalityFileError, match="V1 character card; only Character Card V2"):
        read_upload("old.json", json.dumps({"name": "Old", "first_mes": "Hi", "description": "x"}).encode())


def test_a_png_without_a_card_or_with_bad_base64_is_refused() -> None:
    with pytest.raises(PersonalityFileError, match="no character card"):
        read_upload("plain.png", png_bytes())
    info = PngImagePlugin.PngInfo()
    info.add_text("chara", "%%% not base64 %%%")
    out = io.BytesIO()
    Image.open(io.BytesIO(png_bytes())).save(out, "PNG", pnginfo=info)
    with pytest.raises(PersonalityFileError, match="not valid base64"):
        read_upload("bad.png", out.getvalue())


@pytest.mark.django_db
def test_a_bad_card_in_a_folder_loads_nothing(tmp_path: Path) -> None:
    (tmp_path / "a-good.json").write_text(json.dumps(CARD))
    (tmp_path / "b-bad.json").write_text(json.dumps(_with("data.alternate_greetings", [1, 2])))
    with pytest.raises(CommandError, match=r"b-bad\.json: field 'data\.alternate_greetings'"):
        call_command("loadpersonalities", str(tmp_path), stdout=io.StringIO())
    assert not Personality.objects.exists()
