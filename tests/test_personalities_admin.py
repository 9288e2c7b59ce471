"""The personalities admin through Django's test client (the browser flow is in test_admin_browser)."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from personalities_app.io import read_upload
from personalities_app.models import ChannelActivation, Personality, UserSelection

from .personality_factories import make_personality, png_bytes
from .test_personalities_cards import CARD, card_png

CHANGELIST = reverse("admin:personalities_app_personality_changelist")
IMPORT = reverse("admin:personalities_app_personality_import")


def action(client: Client, name: str, *personalities: Personality) -> Any:
    return client.post(
        CHANGELIST,
        {"action": name, "_selected_action": [p.pk for p in personalities]},
        follow=name in ("activate", "deactivate"),
    )


@pytest.mark.django_db
def test_changelist_searches_aliases_filters_and_shows_escaped_thumbnails(admin_client: Client) -> None:
    make_personality(slug="nova", name="Nova", aliases=["Starfarer"], avatar_url='https://x.test/a.png?"<b>')
    make_personality(slug="pip", name="Pip", model="some/model")

    found = admin_client.get(CHANGELIST, {"q": "starfarer"})
    assert [p.slug for p in found.context["cl"].result_list] == ["nova"]
    page = found.content.decode()
    assert 'src="https://x.test/a.png?&quot;&lt;b&gt;"' in page
    assert 'href="/admin/personalities_app/personality/import/"' in page

    filtered = admin_client.get(CHANGELIST, {"model": "some/model"})
    assert [p.slug for p in filtered.context["cl"].result_list] == ["pip"]
    default = admin_client.get(CHANGELIST, {"model": "-", "is_active__exact": "1"})
    assert default.status_code == 200
    assert list(default.context["cl"].result_list) == [Personality.objects.get(slug="nova")]


@pytest.mark.django_db
def test_change_page_previews_the_prompt_escaped_and_the_avatar(admin_client: Client) -> None:
    personality = make_personality(name="Nova", character_info="<script>alert(1)</script>")
    personality.avatar_image.save("nova.png", ContentFile(png_bytes()))

    page = admin_client.get(reverse("admin:personalities_app_personality_change", args=[personality.pk]))

    html = page.content.decode()
    assert "## Character\n&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert f'src="{personality.avatar}"' in html


@pytest.mark.django_db
def test_add_form_takes_aliases_one_per_line(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("admin:personalities_app_personality_add"),
        {
            "name": "Nova",
            "slug": "nova",
            "aliases": "Starfarer\n\nCaptain\n",
            "memory_scope": "private",
            "memory_top_k": "10",
            "memory_threshold": "0.3",
            "memory_enabled": "on",
            "is_active": "on",
            "is_public": "on",
            "extensions": "{}",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Personality.objects.get(slug="nova").aliases == ["Starfarer", "Captain"]


@pytest.mark.django_db
def test_bulk_activate_and_deactivate(admin_client: Client) -> None:
    one, two = make_personality(), make_personality(is_active=False)
    action(admin_client, "deactivate", one, two)
    assert not Personality.objects.filter(is_active=True).exists()
    action(admin_client, "activate", one, two)
    assert Personality.objects.filter(is_active=True).count() == 2


@pytest.mark.django_db
def test_export_actions_produce_files_the_import_reads_back(admin_client: Client) -> None:
    plain = make_personality(slug="plain", name="Plain")
    pictured = make_personality(slug="pictured", name="Pictured")
    pictured.avatar_image.save("p.png", ContentFile(png_bytes()))

    single = action(admin_client, "export_json", plain)
    assert single["Content-Disposition"] == 'attachment; filename="plain.json"'
    assert json.loads(single.content)["slug"] == "plain"

    archive = action(admin_client, "export_json", plain, pictured)
    assert archive["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zipped:
        assert sorted(zipped.namelist()) == ["avatars/pictured.png", "pictured.json", "plain.json"]
    assert sorted(spec.slug for spec in read_upload("export.zip", archive.content)) == ["pictured", "plain"]

    card = action(admin_client, "export_card_json", pictured)
    assert json.loads(card.content)["data"]["name"] == "Pictured"
    png = action(admin_client, "export_card_png", pictured)
    assert png["Content-Type"] == "image/png"
    assert read_upload("pictured.png", png.content)[0].values["name"] == "Pictured"

    refused = action(admin_client, "export_card_json", plain, pictured)
    assert refused.status_code == 302


@pytest.mark.django_db
def test_import_view_imports_a_png_card(admin_client: Client) -> None:
    page = admin_client.get(IMPORT)
    assert page.status_code == 200 and b"Character Card V2" in page.content

    response = admin_client.post(
        IMPORT, {"file": SimpleUploadedFile("juniper.png", card_png(CARD), "image/png")}, follow=True
    )

    assert "&#x27;juniper-ash&#x27;: created." in response.content.decode()
    assert Personality.objects.get(slug="juniper-ash").avatar_image


@pytest.mark.django_db
def test_import_view_dry_run_and_a_bad_file_change_nothing(admin_client: Client) -> None:
    response = admin_client.post(
        IMPORT,
        {"file": SimpleUploadedFile("juniper.json", json.dumps(CARD).encode()), "dry_run": "on"},
        follow=True,
    )
    assert "&#x27;juniper-ash&#x27;: would be created." in response.content.decode()

    bad = admin_client.post(IMPORT, {"file": SimpleUploadedFile("bad.json", b'{"slug": "x",}')})
    assert bad.status_code == 200
    assert "Nothing was imported. bad.json: line 1, column 14: invalid JSON" in bad.content.decode()

    with_image = admin_client.post(
        IMPORT,
        {"file": SimpleUploadedFile("x.json", b'{"slug": "x", "name": "X", "avatar_file": "avatars/x.png"}')},
    )
    assert "upload the .zip export" in with_image.content.decode()
    assert not Personality.objects.exists()


@pytest.mark.django_db
def test_import_view_needs_a_staff_login(client: Client) -> None:
    response = client.get(IMPORT)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_activation_and_selection_admins_list_and_validate(admin_client: Client) -> None:
    nova = make_personality(slug="nova")
    ChannelActivation.objects.create(channel_id="100", personality=nova)
    UserSelection.objects.create(user_id="111", personality=nova)

    assert b"100" in admin_client.get(reverse("admin:personalities_app_channelactivation_changelist")).content
    assert (
        b"(everywhere)"
        in admin_client.get(reverse("admin:personalities_app_userselection_changelist")).content
    )

    duplicate = admin_client.post(
        reverse("admin:personalities_app_userselection_add"),
        {"user_id": "111", "channel_id": "", "personality": nova.pk},
    )
    assert duplicate.status_code == 200
    assert UserSelection.objects.count() == 1
    bad_id = admin_client.post(
        reverse("admin:personalities_app_channelactivation_add"),
        {"channel_id": "general", "personality": nova.pk},
    )
    assert "A Discord id is a string of digits." in bad_id.content.decode()
