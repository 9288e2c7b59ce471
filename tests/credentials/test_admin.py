"""The admin lists who has which key and whether it works; it never shows or reveals a key."""

from __future__ import annotations

import base64

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from credentials.models import UserCredential
from credentials.services import credential_set

from .conftest import OTHER_USER, USER, new_key

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/credentials/usercredential/"


@pytest.fixture
def admin_client(client: Client) -> Client:
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def ciphertext_forms(pk: int) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM credentials_usercredential WHERE id = %s", [pk])
        blob = bytes(cursor.fetchone()[0])
    return [blob.hex(), base64.b64encode(blob).decode(), base64.urlsafe_b64encode(blob).decode(), repr(blob)]


def test_changelist_and_change_page_show_hints_never_keys_or_ciphertext(admin_client: Client) -> None:
    key = new_key()
    credential = credential_set(user_id=USER, provider="openai", api_key=key, verify=False)
    pages = {
        "list": admin_client.get(CHANGELIST),
        "change": admin_client.get(f"{CHANGELIST}{credential.pk}/change/"),
        "delete": admin_client.get(f"{CHANGELIST}{credential.pk}/delete/"),
        "history": admin_client.get(f"{CHANGELIST}{credential.pk}/history/"),
    }
    for name, page in pages.items():
        assert page.status_code == 200, name
        html = page.content.decode()
        assert key not in html, name
        assert base64.b64encode(key.encode()).decode() not in html, name
        for form in ciphertext_forms(credential.pk):
            assert form not in html, name
        assert credential.hint in html, name
    listing = pages["list"].content.decode()
    for column in ("User id", "Provider", "Hint", "Last used at", "Is valid", "Created at"):
        assert column in listing
    change = pages["change"].content.decode()
    # A read-only view: no form field at all, the key's least of all.
    assert "Api key" not in change and "<textarea" not in change
    for field in ("api_key", "user_id", "provider", "base_url", "hint", "is_valid"):
        assert f'name="{field}"' not in change


def test_no_add_form_and_no_editing(admin_client: Client) -> None:
    credential = credential_set(user_id=USER, provider="openai", api_key=new_key(), verify=False)
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403
    response = admin_client.post(f"{CHANGELIST}{credential.pk}/change/", {"is_valid": "", "user_id": "9"})
    assert response.status_code == 403
    assert UserCredential.objects.get().user_id == USER


def test_search_by_user_id_and_filter_by_provider_and_validity(admin_client: Client) -> None:
    credential_set(user_id=USER, provider="openai", api_key=new_key(), verify=False)
    credential_set(user_id=USER, provider="openrouter", api_key=new_key(), verify=False)
    other = credential_set(user_id=OTHER_USER, provider="openai", api_key=new_key(), verify=False)
    UserCredential.objects.filter(pk=other.pk).update(is_valid=False)

    def rows(query: str) -> int:
        response = admin_client.get(CHANGELIST + query)
        assert response.status_code == 200
        return response.context["cl"].result_count

    assert rows(f"?q={USER}") == 2
    assert rows(f"?q={OTHER_USER}") == 1
    assert rows("?provider__exact=openrouter") == 1
    assert rows("?is_valid__exact=0") == 1


def test_deleting_from_the_admin_removes_the_key(admin_client: Client) -> None:
    credential = credential_set(user_id=USER, provider="openai", api_key=new_key(), verify=False)
    response = admin_client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": [credential.pk], "post": "yes"}
    )
    assert response.status_code == 302
    assert not UserCredential.objects.exists()
