"""``GET/DELETE /users/{user_id}/memories``: what the characters remember of a user; forgetting."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.auth import require_acting_for
from gateway.errors import NotFound
from gateway.serializers import error_response
from personalities_app.models import Personality

from .models import Memory
from .selectors import memory_list
from .services import memory_forget

_error = error_response


class DiscordIdField(serializers.RegexField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(r"^\d{1,32}$", max_length=32, **kwargs)
        self.error_messages["invalid"] = "Must be a Discord id (digits)."


class PathSerializer(serializers.Serializer):
    user_id = DiscordIdField()


class ListQuerySerializer(serializers.Serializer):
    personality = serializers.SlugField(required=False, max_length=64)
    page = serializers.IntegerField(required=False, min_value=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=100)


class DeleteQuerySerializer(serializers.Serializer):
    personality = serializers.SlugField(required=False, max_length=64)


class DeleteBodySerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, allow_empty=False, max_length=1000
    )


class MemoryOutSerializer(serializers.ModelSerializer):
    personality = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Memory
        fields = ["id", "personality", "text", "source", "created_at"]


class DeletedSerializer(serializers.Serializer):
    deleted = serializers.IntegerField()


MemoryPageSerializer = inline_serializer(
    name="MemoryPage",
    fields={
        "count": serializers.IntegerField(),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": MemoryOutSerializer(many=True),
    },
)


class MemoryPagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


def _personality(slug: str | None) -> Personality | None:
    if not slug:
        return None
    personality = Personality.objects.filter(slug=slug).first()
    if personality is None:
        raise NotFound(f"There is no personality named '{slug}'.", details={"personality": slug})
    return personality


_USER_ID = OpenApiParameter("user_id", str, OpenApiParameter.PATH, description="Discord user id (digits).")
_PERSONALITY = OpenApiParameter(
    "personality", str, OpenApiParameter.QUERY, required=False, description="Only this personality's (slug)."
)


class UserMemoriesApi(APIView):
    @extend_schema(
        operation_id="memories_list",
        summary="List what the characters remember of a user",
        description="Newest first, paged. A user token sees only its own user's memories.",
        parameters=[
            _USER_ID,
            _PERSONALITY,
            OpenApiParameter("page", int, OpenApiParameter.QUERY, required=False),
            OpenApiParameter("page_size", int, OpenApiParameter.QUERY, required=False, description="1-100"),
        ],
        responses={
            200: MemoryPageSerializer,
            400: _error("Invalid user id, page or page size"),
            401: _error("Missing or unknown token"),
            403: _error("The token may not act for this user"),
            404: _error("Unknown personality, or a page past the end"),
        },
    )
    def get(self, request: Request, user_id: str) -> Response:
        PathSerializer(data={"user_id": user_id}).is_valid(raise_exception=True)
        require_acting_for(request, user_id)
        query = ListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        personality = _personality(query.validated_data.get("personality"))
        paginator = MemoryPagination()
        page = paginator.paginate_queryset(
            memory_list(user_id=user_id, personality=personality), request, self
        )
        return paginator.get_paginated_response(MemoryOutSerializer(page, many=True).data)

    @extend_schema(
        operation_id="memories_forget",
        summary="Forget a user's memories",
        description=(
            "Without parameters: every memory of the user. `?personality=<slug>`: only that "
            'personality\'s. A body `{"ids": [..]}`: only those memories (ids of other users are '
            "ignored). Both may be combined."
        ),
        parameters=[_USER_ID, _PERSONALITY],
        request=DeleteBodySerializer,
        responses={
            200: DeletedSerializer,
            400: _error("Invalid user id or ids"),
            401: _error("Missing or unknown token"),
            403: _error("The token may not act for this user"),
            404: _error("Unknown personality"),
        },
    )
    def delete(self, request: Request, user_id: str) -> Response:
        PathSerializer(data={"user_id": user_id}).is_valid(raise_exception=True)
        require_acting_for(request, user_id)
        query = DeleteQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        body = DeleteBodySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        personality = _personality(query.validated_data.get("personality"))
        deleted = memory_forget(
            user_id=user_id, personality=personality, memory_ids=body.validated_data.get("ids")
        )
        return Response({"deleted": deleted})
