"""``python manage.py memory_stats``: how much is remembered, and what is pending."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection
from django.db.models import Count

from memory.models import Memory
from memory.services import embedding_column_dimensions


class Command(BaseCommand):
    help = "Print counts of memories (by status, source and personality), scopes, and storage sizes."

    def handle(self, *args: Any, **options: Any) -> None:
        out = self.stdout.write
        total = Memory.objects.count()
        out(f"memories: {total}")
        for row in (
            Memory.objects.values("embedding_status").annotate(n=Count("id")).order_by("embedding_status")
        ):
            out(f"  {row['embedding_status']}: {row['n']}")
        for row in Memory.objects.values("source").annotate(n=Count("id")).order_by("source"):
            out(f"  source {row['source']}: {row['n']}")
        users = Memory.objects.values("user_id").distinct().count()
        scopes = Memory.objects.values("personality_id", "user_id").distinct().count()
        out(f"users: {users}, (personality, user) scopes: {scopes}")
        top = (
            Memory.objects.values("personality__slug")
            .annotate(n=Count("id"))
            .order_by("-n", "personality__slug")[:10]
        )
        for row in top:
            out(f"  personality {row['personality__slug']}: {row['n']}")
        table = Memory._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_size_pretty(pg_table_size(%s::regclass)), "
                "pg_size_pretty(pg_indexes_size(%s::regclass))",
                [table, table],
            )
            table_size, index_size = cursor.fetchone()
        out(f"storage: table {table_size}, indexes {index_size}")
        column = embedding_column_dimensions()
        out(
            f"embedder: {settings.EMBEDDING_BACKEND} {settings.EMBEDDING_MODEL}, "
            f"{settings.EMBEDDING_DIMENSIONS} dimensions (column: {column})"
        )
        if column != settings.EMBEDDING_DIMENSIONS:
            out(self.style.WARNING("The column does not match EMBEDDING_DIMENSIONS: run memory_reembed."))
