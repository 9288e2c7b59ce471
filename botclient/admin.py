from __future__ import annotations

from django.contrib import admin

from .models import DeliveredMessage


@admin.register(DeliveredMessage)
class DeliveredMessageAdmin(admin.ModelAdmin):
    list_display = ("message_id", "personality_slug", "channel_id", "created_at")
    search_fields = ("message_id", "personality_slug", "channel_id")
    readonly_fields = ("message_id", "channel_id", "personality_slug", "job_id", "created_at")

    def has_add_permission(self, request: object) -> bool:
        return False
