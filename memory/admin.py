from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import Memory


@admin.register(Memory)
class MemoryAdmin(admin.ModelAdmin):
    """Read-only: memories are written by conversations and imports, and forgotten by their users."""

    list_display = ("id", "personality", "user_id", "short_text", "source", "embedding_status", "created_at")
    list_filter = ("source", "embedding_status", "shared", "personality")
    search_fields = ("text", "user_id", "source_id", "personality__slug", "personality__name")
    list_select_related = ("personality",)
    date_hierarchy = "created_at"
    show_full_result_count = False  # a count(*) over millions of rows on every page is slow
    fields = (
        "personality",
        "user_id",
        "channel_id",
        "guild_id",
        "shared",
        "text",
        "source",
        "source_id",
        "content_hash",
        "embedding_status",
        "embedding_attempts",
        "embedding_error",
        "created_at",
        "stored_at",
    )
    readonly_fields = fields

    @admin.display(description="text")
    def short_text(self, memory: Memory) -> str:
        return memory.text if len(memory.text) <= 80 else memory.text[:79] + "…"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Memory | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Memory | None = None) -> bool:
        return False
