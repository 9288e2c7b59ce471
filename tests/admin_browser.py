"""Fixtures for admin tests in a real headless browser.

Playwright for Python drives Debian's ``chromium`` by its path (installed by
``scripts/ensure_test_browser.sh``, which ``make test`` runs); it never
downloads a browser. The admin is served by the ``live_api`` uvicorn process
on the test database.

Use ``admin_page`` in a test marked ``@pytest.mark.django_db(transaction=True)``
(the server is another process: it must see committed rows)::

    def test_something(admin_page: AdminSession) -> None:
        admin_page.page.goto("/admin/…")   # relative to admin_page.base_url
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connections
from playwright.sync_api import Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class AdminSession:
    page: Page
    base_url: str
    username: str
    password: str


@pytest.fixture(scope="session")
def collected_static() -> None:
    """The admin's CSS and JS in STATIC_ROOT (under the session's TZUROT_VAR_DIR), served by live_api."""
    call_command("collectstatic", "--noinput", "-v", "0")


@pytest.fixture
def admin_page(
    live_api: str,
    collected_static: None,
    transactional_db: None,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[AdminSession]:
    """A Playwright page logged in to /admin/ as a new superuser; relative URLs go to ``live_api``."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure_test_browser.sh (make test does).")
    username, password = "operator", secrets.token_urlsafe(16)
    get_user_model().objects.create_superuser(username, "operator@example.test", password)
    # Playwright's sync API keeps an asyncio loop running in this thread while
    # it is open, so Django would refuse ORM calls from the test body; nothing
    # runs concurrently with them (the loop is idle meanwhile), so allow them.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=live_api, viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.goto("/admin/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("input[type=submit]")
        page.wait_for_url(f"{live_api}/admin/")
        try:
            yield AdminSession(page=page, base_url=live_api, username=username, password=password)
        finally:
            # ORM calls made while the loop runs got connections of their own
            # (Django keys them by asyncio context); close them here, in it,
            # or the test database cannot be dropped at the end of the session.
            connections.close_all()
            context.close()
            browser.close()
