"""Admin for personalities, channel activations and user selections."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from .io import (
    MAX_UPLOAD_BYTES,
    PersonalityFileError,
    document_bytes,
    export_archive,
    personality_to_card,
    personality_to_document,
    personality_to_png_card,
    read_upload,
)
from .models import ChannelActivation, KnowledgeEntry, Personality, RelationshipProfile, UserSelection
from .prompting import character_system_prompt
from .services import knowledge_entry_save, personalities_set_active, personalities_upsert


class AliasesField(forms.CharField):
    """A JSON list of names (or keywords, facts), edited as one per line."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 40})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return "\n".join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return [line.strip() for line in text.splitlines() if line.strip()]


def _https_urls(field: models.Field, **kwargs: Any) -> forms.Field | None:
    # Avatars must be https (Discord fetches them): complete a bare host that way.
    if isinstance(field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return field.formfield(**kwargs)


class PersonalityForm(forms.ModelForm):
    aliases = AliasesField(
        required=False, help_text="Other names it answers to, one per line (same rules as a name)."
    )

    class Meta:
        model = Personality
        fields = "__all__"  # noqa: DJ007 - the admin's fieldsets choose and order them
        formfield_callback = _https_urls
        # Sized to what each field usually holds, so the form is not a wall of empty boxes.
        widgets = {
            **{
                name: forms.Textarea(attrs={"rows": 3, "cols": 80})
                for name in ("traits", "tone", "scenario", "likes", "dislikes", "greeting")
            },
            **{
                name: forms.Textarea(attrs={"rows": 6, "cols": 80})
                for name in ("system_prompt", "character_info", "example_dialogue")
            },
            "error_message": forms.TextInput(attrs={"size": 80}),
        }


class ModelFilter(admin.SimpleListFilter):
    title = "model"
    parameter_name = "model"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        models = Personality.objects.order_by("model").values_list("model", flat=True).distinct()
        return [(m or "-", m or f"(default: {settings.DEFAULT_MODEL})") for m in models]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Personality]) -> QuerySet[Personality]:
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(model="" if value == "-" else value)


def _avatar_img(personality: Personality, size: int) -> str:
    if not personality.avatar:
        return mark_safe('<span class="tz-no-avatar" title="No avatar">-</span>')
    return format_html(
        '<img src="{}" alt="Avatar of {}" class="tz-avatar" width="{}" height="{}" '
        'style="border-radius:50%;object-fit:cover;vertical-align:middle">',
        personality.avatar,
        personality.shown_name,
        size,
        size,
    )


class ImportForm(forms.Form):
    file = forms.FileField(
        help_text=(
            "A personality JSON file, a Character Card V2 (.json or .png), or a .zip exported "
            "from this admin. Personalities are matched by slug: existing ones are updated."
        )
    )
    dry_run = forms.BooleanField(required=False, label="Only show what would change")


@admin.register(Personality)
class PersonalityAdmin(admin.ModelAdmin):
    form = PersonalityForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    change_list_template = "admin/personalities_app/personality/change_list.html"
    list_display = (
        "avatar_thumbnail",
        "name",
        "slug",
        "display_name",
        "model_shown",
        "memory_scope",
        "is_active",
        "is_public",
        "updated_at",
    )
    list_display_links = ("avatar_thumbnail", "name")
    list_filter = ("is_active", "is_public", "memory_scope", "memory_enabled", ModelFilter)
    search_fields = ("slug", "name", "display_name", "aliases")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("avatar_preview", "prompt_preview", "created_at", "updated_at")
    actions = ["activate", "deactivate", "export_json", "export_card_json", "export_card_png"]
    list_per_page = 50
    fieldsets = (
        (
            "Identity",
            {
                "fields": (
                    ("name", "slug"),
                    "display_name",
                    "aliases",
                    "avatar_preview",
                    "avatar_image",
                    "avatar_url",
                ),
                "description": "How it is addressed and how it looks on Discord.",
            },
        ),
        (
            "Character",
            {
                "fields": (
                    "system_prompt",
                    "character_info",
                    "traits",
                    "tone",
                    "scenario",
                    "likes",
                    "dislikes",
                    "example_dialogue",
                    "greeting",
                    "error_message",
                    "prompt_preview",
                ),
                "description": "Empty fields are left out of the prompt. {{char}} and {{user}} are replaced.",
            },
        ),
        ("Model", {"fields": ("model", ("temperature", "max_output_tokens"))}),
        ("Memory", {"fields": ("memory_enabled", "memory_scope", ("memory_top_k", "memory_threshold"))}),
        ("Flags and ownership", {"fields": (("is_active", "is_public"), "owner_user_id")}),
        (
            "Card data",
            {
                "fields": ("extensions",),
                "classes": ("collapse",),
                "description": "Card fields with no field of their own; exported again as they are.",
            },
        ),
        ("History", {"fields": (("created_at", "updated_at"),)}),
    )

    @admin.display(description="Avatar")
    def avatar_thumbnail(self, obj: Personality) -> str:
        return _avatar_img(obj, 40)

    @admin.display(description="Avatar preview")
    def avatar_preview(self, obj: Personality) -> str:
        if obj.pk is None:
            return "Save to see the avatar."
        return _avatar_img(obj, 128)

    @admin.display(description="Model", ordering="model")
    def model_shown(self, obj: Personality) -> str:
        return obj.model or format_html("<i>default ({})</i>", settings.DEFAULT_MODEL)

    @admin.display(description="System prompt, as the worker assembles it")
    def prompt_preview(self, obj: Personality) -> str:
        if obj.pk is None:
            return "Save to see the assembled prompt."
        return format_html(
            '<pre class="tz-prompt" style="white-space:pre-wrap;max-width:70em;margin:0">{}</pre>',
            character_system_prompt(obj),
        )

    # --- Actions --------------------------------------------------------------------

    @admin.action(description="Activate selected personalities", permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet[Personality]) -> None:
        count = personalities_set_active(personalities=queryset, is_active=True)
        self.message_user(request, f"Activated {count} personalities.", messages.SUCCESS)

    @admin.action(description="Deactivate selected personalities", permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Personality]) -> None:
        count = personalities_set_active(personalities=queryset, is_active=False)
        self.message_user(request, f"Deactivated {count} personalities.", messages.SUCCESS)

    @admin.action(description="Export as Tzurot JSON (a .zip when there are avatars)")
    def export_json(self, request: HttpRequest, queryset: QuerySet[Personality]) -> HttpResponse:
        personalities = list(queryset.order_by("slug"))
        if len(personalities) == 1 and not personalities[0].avatar_image:
            only = personalities[0]
            return _download(
                document_bytes(personality_to_document(only)), "application/json", f"{only.slug}.json"
            )
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        return _download(export_archive(personalities), "application/zip", f"personalities-{stamp}.zip")

    @admin.action(description="Export as Character Card V2 (.json; one personality)")
    def export_card_json(self, request: HttpRequest, queryset: QuerySet[Personality]) -> HttpResponse | None:
        personality = self._single(request, queryset)
        if personality is None:
            return None
        content = document_bytes(personality_to_card(personality))
        return _download(content, "application/json", f"{personality.slug}.card.json")

    @admin.action(description="Export as Character Card V2 (.png; one personality)")
    def export_card_png(self, request: HttpRequest, queryset: QuerySet[Personality]) -> HttpResponse | None:
        personality = self._single(request, queryset)
        if personality is None:
            return None
        return _download(personality_to_png_card(personality), "image/png", f"{personality.slug}.card.png")

    def _single(self, request: HttpRequest, queryset: QuerySet[Personality]) -> Personality | None:
        if queryset.count() != 1:
            self.message_user(
                request, "A character card holds one personality: select exactly one.", messages.ERROR
            )
            return None
        return queryset.get()

    # --- Import ----------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="personalities_app_personality_import",
            )
        ]
        return custom + super().get_urls()

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not (self.has_add_permission(request) and self.has_change_permission(request)):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > MAX_UPLOAD_BYTES:
                form.add_error("file", "The file is larger than 20 MB.")
            else:
                try:
                    specs = read_upload(upload.name, upload.read())
                except PersonalityFileError as exc:
                    form.add_error("file", f"Nothing was imported. {exc}")
                else:
                    dry_run = form.cleaned_data["dry_run"]
                    outcomes = personalities_upsert(specs=specs, dry_run=dry_run)
                    for outcome in outcomes:
                        changed = f" ({', '.join(outcome.changed)})" if outcome.changed else ""
                        would = "would be " if dry_run else ""
                        self.message_user(
                            request, f"'{outcome.slug}': {would}{outcome.action}{changed}.", messages.SUCCESS
                        )
                    if dry_run:
                        self.message_user(request, "Dry run: nothing was written.", messages.WARNING)
                    return HttpResponseRedirect(reverse("admin:personalities_app_personality_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": "Import personalities",
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(request, "admin/personalities_app/personality/import.html", context)


def _download(content: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@admin.register(ChannelActivation)
class ChannelActivationAdmin(admin.ModelAdmin):
    list_display = ("channel_id", "personality", "guild_id", "activated_by", "created_at")
    list_filter = ("personality",)
    search_fields = ("channel_id", "guild_id", "activated_by", "personality__slug", "personality__name")
    autocomplete_fields = ("personality",)
    readonly_fields = ("created_at",)


@admin.register(UserSelection)
class UserSelectionAdmin(admin.ModelAdmin):
    list_display = ("user_id", "where", "personality", "updated_at")
    list_filter = ("personality", ("channel_id", admin.EmptyFieldListFilter))
    search_fields = ("user_id", "channel_id", "personality__slug", "personality__name")
    autocomplete_fields = ("personality",)
    readonly_fields = ("created_at", "updated_at")

    @admin.display(description="Channel", ordering="channel_id")
    def where(self, obj: UserSelection) -> str:
        return obj.channel_id or "(everywhere)"


# --- Knowledge entries and relationship profiles ------------------------------------------------


class KnowledgeEntryForm(forms.ModelForm):
    keywords = AliasesField(
        required=False,
        help_text="Words or phrases that bring this entry into the prompt, one per line "
        "(whole words, any case). Without keywords it is used when a message is close in meaning.",
    )

    class Meta:
        model = KnowledgeEntry
        fields = "__all__"  # noqa: DJ007 - the admin's fields choose and order them
        widgets = {"content": forms.Textarea(attrs={"rows": 10, "cols": 80})}


@admin.register(KnowledgeEntry)
class KnowledgeEntryAdmin(admin.ModelAdmin):
    """A character's lorebook. Saving a changed entry queues its new embedding (a worker makes it)."""

    form = KnowledgeEntryForm
    list_display = (
        "shown_title",
        "personality",
        "keywords_shown",
        "enabled",
        "source",
        "embedding_status",
        "updated_at",
    )
    list_filter = ("enabled", "source", "embedding_status", "personality")
    search_fields = ("title", "content", "source_id", "personality__slug", "personality__name")
    list_select_related = ("personality",)
    autocomplete_fields = ("personality",)
    fields = (
        "personality",
        "title",
        "keywords",
        "content",
        "enabled",
        ("source", "source_id"),
        "metadata",
        ("embedding_status", "embedding_error"),
        ("created_at", "updated_at"),
    )
    readonly_fields = ("embedding_status", "embedding_error", "created_at", "updated_at")

    @admin.display(description="Title", ordering="title")
    def shown_title(self, entry: KnowledgeEntry) -> str:
        return str(entry)

    @admin.display(description="Keywords")
    def keywords_shown(self, entry: KnowledgeEntry) -> str:
        return ", ".join(entry.keywords) or "-"

    def save_model(
        self, request: HttpRequest, obj: KnowledgeEntry, form: forms.ModelForm, change: bool
    ) -> None:
        # Not embedded here: the web process does not load the local model.
        knowledge_entry_save(entry=obj, embed_now=False)


class RelationshipProfileForm(forms.ModelForm):
    notable_facts = AliasesField(
        required=False, help_text="One fact per line (at most 30, 300 characters each)."
    )

    class Meta:
        model = RelationshipProfile
        fields = "__all__"  # noqa: DJ007 - the admin's fields choose and order them
        widgets = {"backstory": forms.Textarea(attrs={"rows": 6, "cols": 80})}


@admin.register(RelationshipProfile)
class RelationshipProfileAdmin(admin.ModelAdmin):
    """What a character knows of a user. Users see and edit theirs through the API (the bot's /tz profile)."""

    form = RelationshipProfileForm
    list_display = ("personality", "user_id", "preferred_name", "pronouns", "facts_count", "updated_at")
    list_filter = ("personality",)
    search_fields = ("user_id", "preferred_name", "personality__slug", "personality__name")
    list_select_related = ("personality",)
    autocomplete_fields = ("personality",)
    fields = (
        "personality",
        "user_id",
        "preferred_name",
        "pronouns",
        "backstory",
        "notable_facts",
        ("created_at", "updated_at"),
    )
    readonly_fields = ("created_at", "updated_at")

    @admin.display(description="Notable facts")
    def facts_count(self, profile: RelationshipProfile) -> int:
        return len(profile.notable_facts)
