"""Admin for users' keys: who has which, and whether it works. Never the key itself.

The encrypted field is not editable (so no form has it), is listed nowhere,
and is deferred in every query here: pages neither show nor decrypt it, and
keep working when FIELD_ENCRYPTION_KEY is wrong. Keys come from their users,
so there is no add or change form; deleting is allowed.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import UserCredential
from .selectors import credential_queryset


@admin.register(UserCredential)
class UserCredentialAdmin(admin.ModelAdmin):
    list_display = ("user_id", "provider", "hint", "last_used_at", "is_valid", "created_at")
    list_filter = ("provider", "is_valid")
    search_fields = ("=user_id",)
    search_help_text = "A Discord user id."
    ordering = ("user_id", "provider")
    fields = ("user_id", "provider", "base_url", "hint", "is_valid", "created_at", "last_used_at")
    readonly_fields = fields
    exclude = ("api_key",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[UserCredential]:
        return credential_queryset().order_by(*self.ordering)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The change page becomes a read-only view; nothing here is edited by hand.
        return False
