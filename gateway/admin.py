from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import ApiToken
from .services import token_revoke


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "hint", "is_service", "user_id", "created_at", "last_used_at", "revoked_at")
    list_filter = ("is_service", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "user_id", "hint")
    readonly_fields = ("hint", "created_at", "last_used_at", "revoked_at")
    fields = ("name", "is_service", "user_id", "hint", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A token is shown once at creation; that needs a terminal, not a form.
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            token_revoke(token=token)
        self.message_user(request, f"Revoked {queryset.count()} token(s).", messages.SUCCESS)
