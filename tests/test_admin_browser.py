"""The admin in a real headless browser: an operator creates a personality with an avatar."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings

from personalities_app.models import Personality
from tests.admin_browser import AdminSession

AVATAR = Path(settings.BASE_DIR) / "personalities" / "avatars" / "vesper.png"
IMAGE_LOADED = "img => img.complete && img.naturalWidth > 0"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_operator_creates_a_personality_and_sees_its_avatar(admin_page: AdminSession, tmp_path: Path) -> None:
    page = admin_page.page
    stylesheet = page.request.get(f"{admin_page.base_url}/static/admin/css/base.css")
    assert stylesheet.status == 200, "the admin's CSS is not served"

    page.goto("/admin/personalities_app/personality/")
    page.click("a.tz-import-link")
    page.wait_for_selector("#personality-import-form")
    page.screenshot(path=str(tmp_path / "import.png"))
    page.goto("/admin/personalities_app/personality/add/")
    page.locator("#id_name").press_sequentially("Captain Nova")
    assert page.input_value("#id_slug") == "captain-nova"  # filled in from the name as you type
    page.fill("#id_aliases", "Nova\nThe Captain")
    page.fill("#id_greeting", "Captain on deck!")
    page.fill("#id_character_info", "Commands the starship <Wanderer>.")
    page.set_input_files("#id_avatar_image", str(AVATAR))
    page.click("input[name=_continue]")

    page.wait_for_selector("ul.messagelist li.success")
    personality = Personality.objects.get(slug="captain-nova")
    assert personality.aliases == ["Nova", "The Captain"]
    assert personality.avatar_image.name.startswith("avatars/vesper")

    preview = page.locator(".field-avatar_preview img.tz-avatar")
    # The server's PUBLIC_BASE_URL is its own address.
    assert preview.get_attribute("src") == f"{admin_page.base_url}{personality.avatar_image.url}"
    assert preview.get_attribute("src").startswith(f"{admin_page.base_url}/media/avatars/vesper")
    page.wait_for_function(IMAGE_LOADED, arg=preview.element_handle())
    assert "## Character\nCommands the starship <Wanderer>." in page.inner_text(".field-prompt_preview pre")
    page.screenshot(path=str(tmp_path / "change-form.png"), full_page=True)

    page.goto("/admin/personalities_app/personality/")
    thumbnail = page.locator("#result_list img.tz-avatar")
    page.wait_for_function(IMAGE_LOADED, arg=thumbnail.element_handle())
    assert page.evaluate("img => img.naturalWidth", thumbnail.element_handle()) == 256
    page.screenshot(path=str(tmp_path / "changelist.png"), full_page=True)
    if os.environ.get("TZUROT_SCREENSHOTS"):  # keep them for a human to look at
        for name in ("import.png", "change-form.png", "changelist.png"):
            (Path(os.environ["TZUROT_SCREENSHOTS"]) / name).write_bytes((tmp_path / name).read_bytes())


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_operator_sees_a_credential_listed_with_its_hint_only(admin_page: AdminSession) -> None:
    from credentials.services import credential_set

    key = "sk-browser-" + "k" * 20 + "wxyz"
    credential_set(user_id="424242", provider="openai", api_key=key, verify=False)
    page = admin_page.page
    page.goto("/admin/credentials/usercredential/")
    row = page.locator("#result_list tbody tr").first
    text = row.inner_text()
    assert "424242" in text and "wxyz" in text
    assert key not in page.content()
    page.locator("#result_list tbody tr a").first.click()
    page.wait_for_selector("#content")
    html = page.content()
    assert key not in html and key[:-4] not in html
    assert "wxyz" in html
    assert page.locator("input[name=api_key], textarea[name=api_key]").count() == 0
