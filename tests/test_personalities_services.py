"""Personality validation, the prompt, activations, selections and resolution."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from gateway.errors import NotFound
from personalities_app.models import Personality, UserSelection
from personalities_app.prompting import character_system_prompt
from personalities_app.selectors import (
    activation_get,
    personality_get,
    personality_list_public,
    personality_resolve_for,
    selection_get,
)
from personalities_app.services import (
    activation_clear,
    activation_set,
    personalities_set_active,
    selection_clear,
    selection_set,
)

from .personality_factories import make_personality, png_bytes

# --- Validation -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": "Discord Helper"}, "name", "does not allow 'discord'"),
        ({"name": "x" * 81}, "name", "Ensure this value has at most 80"),
        ({"display_name": "  "}, "display_name", "1 to 80 characters"),
        ({"slug": "Not_A_Slug"}, "slug", "lowercase letters"),
        ({"avatar_url": "http://example.test/a.png"}, "avatar_url", "https://"),
        ({"aliases": "Nova"}, "aliases", "must be a list"),
        ({"aliases": ["Nova", ""]}, "aliases", "Alias 2 must be a non-empty"),
        ({"aliases": [" Nova"]}, "aliases", "leading/trailing spaces"),
        ({"aliases": ["Nova", "NOVA"]}, "aliases", "listed twice"),
        ({"aliases": ["clyde"]}, "aliases", "Alias 'clyde'"),
        ({"owner_user_id": "alice"}, "owner_user_id", "string of digits"),
        ({"temperature": 2.5}, "temperature", "less than or equal to 2"),
    ],
)
def test_invalid_personality_fields_are_refused_with_a_clear_message(
    overrides: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as error:
        make_personality(**overrides)
    assert message in " ".join(error.value.message_dict[field])


@pytest.mark.django_db
def test_avatar_url_and_uploaded_image_are_not_both_allowed() -> None:
    personality = Personality(slug="two", name="Two", avatar_url="https://example.test/a.png")
    personality.avatar_image.save("two.png", ContentFile(png_bytes()), save=False)
    with pytest.raises(ValidationError) as error:
        personality.full_clean()
    assert "either an avatar URL or an uploaded image" in error.value.message_dict["avatar_url"][0]


@pytest.mark.django_db
def test_avatar_is_the_uploaded_image_under_the_public_base_url_else_the_url(settings) -> None:  # type: ignore[no-untyped-def]
    settings.PUBLIC_BASE_URL = "https://tzurot.example"
    with_url = make_personality(avatar_url="https://cdn.example.test/a.png")
    assert with_url.avatar == "https://cdn.example.test/a.png"
    uploaded = make_personality()
    uploaded.avatar_image.save("up.png", ContentFile(png_bytes()))
    assert uploaded.avatar.startswith("https://tzurot.example/media/avatars/up")
    assert make_personality().avatar == ""


# --- The prompt -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_system_prompt_has_labelled_sections_in_order_and_omits_empty_ones() -> None:
    personality = make_personality(
        name="Nova",
        display_name="Captain Nova",
        system_prompt="You are {{char}}. Be brief with {{user}}.",
        character_info="A captain.",
        traits="Bold.",
        tone="",
        scenario="The bridge.",
        likes="Stars.",
        dislikes="",
        example_dialogue="{{user}}: Hi\n{{char}}: Report!",
    )
    assert character_system_prompt(personality) == (
        "You are Captain Nova. Be brief with the user.\n\n"
        "## Character\nA captain.\n\n"
        "## Personality traits\nBold.\n\n"
        "## Scenario\nThe bridge.\n\n"
        "## Likes\nStars.\n\n"
        "## Example dialogue\nthe user: Hi\nCaptain Nova: Report!"
    )


@pytest.mark.django_db
def test_system_prompt_without_instructions_opens_with_the_name() -> None:
    personality = make_personality(name="Pip", tone="Beeps.")
    assert character_system_prompt(personality) == "You are Pip.\n\n## Tone and voice\nBeeps."


# --- Selectors ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_personality_get_refuses_unknown_inactive_and_other_users_private_ones() -> None:
    make_personality(slug="live")
    make_personality(slug="off", is_active=False)
    make_personality(slug="mine", is_public=False, owner_user_id="7")

    assert personality_get(slug="live").slug == "live"
    for slug in ("nobody", "off"):
        with pytest.raises(NotFound, match=f"no active personality called '{slug}'"):
            personality_get(slug=slug)
    assert personality_get(slug="mine", viewer_user_id="7").slug == "mine"
    assert personality_get(slug="mine").slug == "mine"  # trusted callers see everything active
    with pytest.raises(NotFound):
        personality_get(slug="mine", viewer_user_id="8")


@pytest.mark.django_db
def test_public_list_has_only_active_public_personalities_by_name() -> None:
    make_personality(slug="b", name="Bravo")
    make_personality(slug="a", name="Alpha")
    make_personality(slug="off", is_active=False)
    make_personality(slug="private", is_public=False)
    assert [p.slug for p in personality_list_public()] == ["a", "b"]


# --- Activation and selection -----------------------------------------------------------------


@pytest.mark.django_db
def test_activation_set_replaces_and_clear_reports_whether_there_was_one() -> None:
    first, second = make_personality(), make_personality()
    activation_set(channel_id="100", personality=first, guild_id="1", activated_by="5")
    activation = activation_set(channel_id="100", personality=second)
    assert activation.personality == second and activation.guild_id == "" and activation.activated_by == ""
    assert activation_get(channel_id="100") == activation

    assert activation_clear(channel_id="100") is True
    assert activation_clear(channel_id="100") is False
    assert activation_get(channel_id="100") is None


@pytest.mark.django_db
def test_thread_inherits_its_parent_channel_activation_unless_it_has_its_own() -> None:
    parent, own = make_personality(), make_personality()
    activation_set(channel_id="100", personality=parent)
    assert activation_get(channel_id="900", parent_channel_id="100").personality == parent
    activation_set(channel_id="900", personality=own)
    assert activation_get(channel_id="900", parent_channel_id="100").personality == own


@pytest.mark.django_db
def test_activation_of_an_inactive_personality_is_ignored() -> None:
    personality = make_personality()
    activation_set(channel_id="100", personality=personality)
    personalities_set_active(personalities=[personality], is_active=False)
    assert activation_get(channel_id="100") is None


@pytest.mark.django_db
def test_selection_per_channel_falls_back_to_the_global_one() -> None:
    everywhere, here = make_personality(), make_personality()
    selection_set(user_id="1", personality=everywhere)
    selection_set(user_id="1", personality=here, channel_id="100")

    assert selection_get(user_id="1", channel_id="100").personality == here
    assert selection_get(user_id="1", channel_id="200").personality == everywhere
    assert selection_get(user_id="1").personality == everywhere
    assert selection_get(user_id="2") is None

    # Setting again replaces rather than adds.
    selection_set(user_id="1", personality=here)
    assert UserSelection.objects.filter(user_id="1").count() == 2
    assert selection_get(user_id="1").personality == here

    assert selection_clear(user_id="1", channel_id="100") is True
    assert selection_get(user_id="1", channel_id="100").channel_id == ""
    assert selection_clear(user_id="1") is True
    assert selection_clear(user_id="1") is False
    assert selection_get(user_id="1", channel_id="100") is None


@pytest.mark.django_db
@pytest.mark.parametrize("channel_id", ["", "100"])
def test_the_database_allows_one_selection_per_user_and_channel_or_global(channel_id: str) -> None:
    personality = make_personality()
    UserSelection.objects.create(user_id="1", channel_id=channel_id, personality=personality)
    with pytest.raises(IntegrityError), transaction.atomic():
        UserSelection.objects.create(user_id="1", channel_id=channel_id, personality=personality)


@pytest.mark.django_db
def test_resolution_order_activation_then_parent_then_selections() -> None:
    channel_pick, parent_pick, chan_sel, parent_sel, global_sel = (make_personality() for _ in range(5))

    def resolve() -> Personality | None:
        return personality_resolve_for(user_id="1", channel_id="900", parent_channel_id="100")

    assert resolve() is None
    selection_set(user_id="1", personality=global_sel)
    assert resolve() == global_sel
    selection_set(user_id="1", personality=parent_sel, channel_id="100")
    assert resolve() == parent_sel
    selection_set(user_id="1", personality=chan_sel, channel_id="900")
    assert resolve() == chan_sel
    activation_set(channel_id="100", personality=parent_pick)
    assert resolve() == parent_pick
    activation_set(channel_id="900", personality=channel_pick)
    assert resolve() == channel_pick

    # Inactive personalities are passed over at every step.
    personalities_set_active(personalities=[channel_pick, parent_pick, chan_sel], is_active=False)
    assert resolve() == parent_sel
    assert personality_resolve_for(user_id="2", channel_id="900", parent_channel_id="100") is None
