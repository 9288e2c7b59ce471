"""Imports started from the admin: the upload is stored, a Celery task imports it, the report is shown."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from ingest.models import ImportRun
from ingest.services import import_run_execute
from memory.models import Memory
from personalities_app.models import Personality
from tests.conftest import Process, start_worker, wait_for

from .conftest import CHATS, USER, WREN


def wren_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for path in WREN.iterdir():
            archive.write(path, f"wren/{path.name}")
    return out.getvalue()


@pytest.fixture
def admin_client(db: None) -> Client:
    user = get_user_model().objects.create_superuser("operator", "op@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def upload(client: Client, **fields: Any):  # type: ignore[no-untyped-def]
    data = {"user_id": "", "user_name": "", "personality_slug": "", "chat_format": "auto", **fields}
    return client.post("/admin/ingest/importrun/add/", data)


@pytest.mark.usefixtures("fake_embedder")
def test_upload_is_stored_queued_and_its_report_shown_when_done(
    admin_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = upload(
            admin_client,
            kind="shapes",
            upload=SimpleUploadedFile("wren.tar.gz.zip", wren_zip()),
            user_id=USER,
        )
    assert response.status_code == 302, response.content.decode()[:3000]
    run = ImportRun.objects.get()
    assert run.status == "queued" and len(callbacks) == 1  # the task is queued after the commit
    stored = Path(run.upload.path)
    assert stored.is_file() and stored.name == "wren.tar.gz.zip"
    assert stored.parent.parent == Path(settings.MEDIA_ROOT) / "imports"
    assert run.created_by is not None and run.created_by.username == "operator"

    page = admin_client.get(f"/admin/ingest/importrun/{run.pk}/change/").content.decode()
    assert "Not finished yet" in page

    # What the task does:
    finished = import_run_execute(run_id=run.pk)
    assert finished is not None and finished.status == "succeeded", finished.error
    assert import_run_execute(run_id=run.pk) is None  # claimed once only
    assert finished.personality_slug == "wren-of-the-lantern" and finished.user_id == USER
    assert finished.report["sections"]["memories"]["created"] == 4
    page = admin_client.get(f"/admin/ingest/importrun/{run.pk}/change/").content.decode()
    assert "memories     created 4, updated 0, skipped 4, failed 0" in page
    listing = admin_client.get("/admin/ingest/importrun/").content.decode()
    assert "memories: +4 ~0 =4 !0" in listing

    # Deleting the run deletes the uploaded file (a user's private history).
    admin_client.post(f"/admin/ingest/importrun/{run.pk}/delete/", {"post": "yes"})
    assert not ImportRun.objects.exists() and not stored.exists()


@pytest.mark.usefixtures("fake_embedder")
def test_a_broken_file_fails_the_run_with_the_reason_and_can_be_run_again(
    admin_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    Personality.objects.create(slug="wren", name="Wren")
    with django_capture_on_commit_callbacks(execute=False):
        upload(
            admin_client,
            kind="chat",
            upload=SimpleUploadedFile("chat.jsonl", b'{"name": "Ally", "is_user": true}\n'),
            user_id=USER,
            personality_slug="wren",
        )
    run = ImportRun.objects.get()
    failed = import_run_execute(run_id=run.pk)
    assert failed is not None and failed.status == "failed"
    assert (
        failed.error.startswith("Nothing was imported. ")
        and "line 1: mes: required, and missing" in failed.error
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        admin_client.post(
            "/admin/ingest/importrun/", {"action": "run_again", "_selected_action": [str(run.pk)]}
        )
    run.refresh_from_db()
    assert run.status == "queued" and run.error == "" and len(callbacks) == 1


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"kind": "chat", "user_id": USER}, "A chat import needs the personality it was with."),
        ({"kind": "chat", "personality_slug": "wren"}, "A chat import needs the user&#x27;s Discord id."),
        (
            {"kind": "chat", "user_id": USER, "personality_slug": "ghost"},
            "There is no personality &#x27;ghost&#x27;.",
        ),
        ({"kind": "shapes", "user_id": "alice"}, "A Discord id is a string of digits."),
        ({"kind": "shapes", "user_id": USER, "name": "notes.txt"}, "For this kind of import, upload one of"),
    ],
)
def test_the_upload_form_refuses_what_cannot_be_imported(
    admin_client: Client, fields: dict, error: str
) -> None:  # type: ignore[type-arg]
    Personality.objects.create(slug="wren", name="Wren")
    name = fields.pop("name", "chat.jsonl" if fields["kind"] == "chat" else "wren.zip")
    response = upload(admin_client, upload=SimpleUploadedFile(name, b"{}"), **fields)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not ImportRun.objects.exists()


@pytest.fixture
def import_worker(test_database_url: str, process_logs: Path) -> Iterator[Process]:
    """A worker of this test's own: the session's would stay up and take later tests' generation jobs."""
    worker = start_worker(process_logs, test_database_url)
    yield worker
    worker.stop()


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_an_uploaded_chat_is_imported_by_a_real_worker(import_worker: Process) -> None:
    Personality.objects.create(slug="wren", name="Wren")
    user = get_user_model().objects.create_superuser("operator2", "op2@example.com", "pw")
    client = Client()
    client.force_login(user)
    response = upload(
        client,
        kind="chat",
        upload=SimpleUploadedFile("wren.jsonl", (CHATS / "wren-sillytavern.jsonl").read_bytes()),
        user_id=USER,
        personality_slug="wren",
    )
    assert response.status_code == 302
    run = ImportRun.objects.get()
    wait_for(
        lambda: ImportRun.objects.filter(pk=run.pk, status__in=["succeeded", "failed"]).exists(),
        180,
        "the import to finish",
        import_worker,
        interval=0.2,
    )
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert "memories     created 3, updated 0, skipped 0, failed 0" in run.report_text
    assert Memory.objects.filter(personality__slug="wren", user_id=USER).count() == 3
