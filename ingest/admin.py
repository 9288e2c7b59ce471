"""Admin of imports: upload a Shapes.inc backup or a chat file, a Celery task imports it, read its report."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from personalities_app.models import Personality
from personalities_app.validators import DISCORD_ID_RE

from .chats import FORMATS
from .files import ARCHIVE_SUFFIXES
from .models import ImportKind, ImportRun, ImportStatus
from .services import import_run_requeue, import_run_submit

SUFFIXES = {
    ImportKind.SHAPES: (*ARCHIVE_SUFFIXES, ".json"),
    ImportKind.CHAT: (".jsonl", ".json"),
}


class ImportRunForm(forms.ModelForm):
    chat_format = forms.ChoiceField(
        choices=[("auto", "Recognise it")] + [(name, name) for name in FORMATS],
        initial="auto",
        required=False,
        help_text="Chat files only.",
    )

    class Meta:
        model = ImportRun
        fields = ("kind", "upload", "user_id", "user_name", "personality_slug", "chat_format", "dry_run")
        labels = {"upload": "File", "user_id": "Discord user id", "personality_slug": "Personality (slug)"}
        help_texts = {
            "upload": "Shapes.inc: the backup as a .zip/.tar.gz/.tgz/.tar archive, or one export .json. "
            "Chat: a SillyTavern .jsonl, a SpicyChat .json or a tzurot-chat-v1 .json (docs/ingestion.md).",
            "user_id": "Whose history it is. Required for chats; for a Shapes.inc backup unless its "
            "personalization file carries the Discord id.",
            "personality_slug": "Chats only: the personality the chat was with (it must exist).",
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        kind = data.get("kind")
        upload = data.get("upload")
        user_id = (data.get("user_id") or "").strip()
        if user_id and not DISCORD_ID_RE.fullmatch(user_id):
            self.add_error("user_id", "A Discord id is a string of digits.")
        if upload is not None and kind in SUFFIXES and not upload.name.lower().endswith(SUFFIXES[kind]):
            self.add_error("upload", f"For this kind of import, upload one of: {', '.join(SUFFIXES[kind])}.")
        if kind == ImportKind.CHAT:
            slug = (data.get("personality_slug") or "").strip()
            if not user_id:
                self.add_error("user_id", "A chat import needs the user's Discord id.")
            if not slug:
                self.add_error("personality_slug", "A chat import needs the personality it was with.")
            elif not Personality.objects.filter(slug=slug).exists():
                self.add_error("personality_slug", f"There is no personality '{slug}'.")
        return data


def _counts(run: ImportRun) -> str:
    sections = (run.report or {}).get("sections") or {}
    parts = []
    for name, section in sections.items():
        parts.append(
            f"{name}: +{section.get('created', 0)} ~{section.get('updated', 0)} "
            f"={section.get('skipped', 0)} !{section.get('failed', 0)}"
        )
    return "; ".join(parts)


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
    form = ImportRunForm
    list_display = (
        "id",
        "kind",
        "file_name",
        "status_shown",
        "dry_run",
        "personality_slug",
        "user_id",
        "summary",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "kind", "dry_run")
    search_fields = ("user_id", "personality_slug", "upload")
    actions = ["run_again"]
    readonly_fields = (
        "status",
        "report_shown",
        "error",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    )

    def get_fields(self, request: HttpRequest, obj: ImportRun | None = None) -> Any:
        if obj is None:
            return ("kind", "upload", "user_id", "user_name", "personality_slug", "chat_format", "dry_run")
        return (
            ("kind", "status", "dry_run"),
            "upload",
            ("user_id", "user_name"),
            ("personality_slug", "chat_format"),
            "report_shown",
            "error",
            ("created_by", "created_at"),
            ("started_at", "finished_at"),
        )

    def get_readonly_fields(self, request: HttpRequest, obj: ImportRun | None = None) -> Any:
        if obj is None:
            return ()
        # A run is a record of what happened: nothing to edit, only to read (or run again).
        return (
            "kind",
            "upload",
            "user_id",
            "user_name",
            "personality_slug",
            "chat_format",
            "dry_run",
            *self.readonly_fields,
        )

    @admin.display(description="File")
    def file_name(self, run: ImportRun) -> str:
        return run.upload.name.rsplit("/", 1)[-1] if run.upload else "-"

    @admin.display(description="Status", ordering="status")
    def status_shown(self, run: ImportRun) -> str:
        colours = {ImportStatus.SUCCEEDED: "#1a7f37", ImportStatus.FAILED: "#cf222e"}
        return format_html(
            '<span style="color:{}">{}</span>', colours.get(run.status, "inherit"), run.get_status_display()
        )

    @admin.display(description="created / updated / skipped / failed")
    def summary(self, run: ImportRun) -> str:
        if run.status == ImportStatus.FAILED:
            return run.error[:120]
        return _counts(run)

    @admin.display(description="Report")
    def report_shown(self, run: ImportRun) -> str:
        if run.status in (ImportStatus.QUEUED, ImportStatus.RUNNING):
            return "Not finished yet: reload this page to see the report."
        return format_html(
            '<pre class="tz-report" style="white-space:pre-wrap;margin:0">{}</pre>', run.report_text or "-"
        )

    def save_model(self, request: HttpRequest, obj: ImportRun, form: forms.ModelForm, change: bool) -> None:
        if change:
            return
        import_run_submit(run=obj, created_by=request.user)
        self.message_user(
            request,
            "The import is queued; a worker runs it. Open it to see its report when it has finished.",
            messages.INFO,
        )

    @admin.action(description="Run the selected imports again", permissions=["change"])
    def run_again(self, request: HttpRequest, queryset: QuerySet[ImportRun]) -> None:
        queued = sum(import_run_requeue(run=run) for run in queryset)
        self.message_user(request, f"{queued} import(s) queued again.", messages.SUCCESS)
        if queued < queryset.count():
            self.message_user(request, "Imports still queued or running were left alone.", messages.WARNING)
