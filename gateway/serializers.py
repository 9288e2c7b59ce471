"""Input validation and output shapes of the generation API."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

DISCORD_ID = r"^\d{1,20}$"
MAX_MESSAGE = 8000
MAX_HISTORY = 100
MAX_ATTACHMENTS = 10


class DiscordIdField(serializers.RegexField):
    def __init__(self, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("max_length", 20)
        super().__init__(
            DISCORD_ID, error_messages={"invalid": "Must be a Discord id (digits only)."}, **kwargs
        )


class HistoryItemSerializer(serializers.Serializer):
    author = serializers.CharField(max_length=100)
    content = serializers.CharField(max_length=MAX_MESSAGE, allow_blank=True, trim_whitespace=False)
    is_personality = serializers.BooleanField(default=False)


class ReferencedMessageSerializer(HistoryItemSerializer):
    message_id = DiscordIdField(required=False, allow_null=True)


class AttachmentSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=2000)
    content_type = serializers.RegexField(
        r"^[\w.+-]+/[\w.+-]+$",
        max_length=100,
        error_messages={"invalid": "Must be a MIME type like image/png."},
    )
    filename = serializers.CharField(max_length=255, required=False, allow_blank=True)


class ContextSerializer(serializers.Serializer):
    user_id = DiscordIdField()
    user_name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    channel_id = DiscordIdField(required=False, allow_null=True, default=None)
    guild_id = DiscordIdField(required=False, allow_null=True, default=None)
    thread_id = DiscordIdField(required=False, allow_null=True, default=None)
    message_id = DiscordIdField(required=False, allow_null=True, default=None)
    referenced_message = ReferencedMessageSerializer(required=False, allow_null=True, default=None)
    history = HistoryItemSerializer(many=True, required=False, default=list, max_length=MAX_HISTORY)
    attachments = AttachmentSerializer(many=True, required=False, default=list, max_length=MAX_ATTACHMENTS)


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A mention in a guild channel",
            request_only=True,
            value={
                "personality": "nova",
                "message": "Nova, where are we headed?",
                "context": {
                    "user_id": "111111111111111111",
                    "user_name": "Alice",
                    "channel_id": "222222222222222222",
                    "guild_id": "333333333333333333",
                    "message_id": "444444444444444444",
                    "history": [{"author": "Bob", "content": "We just left port.", "is_personality": False}],
                    "attachments": [],
                },
            },
        )
    ]
)
class GenerateRequestSerializer(serializers.Serializer):
    personality = serializers.SlugField(max_length=64)
    message = serializers.CharField(max_length=MAX_MESSAGE, trim_whitespace=True)
    context = ContextSerializer()
    model = serializers.CharField(
        max_length=200, required=False, allow_null=True, allow_blank=True, default=None
    )


class GenerateResponseSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    request_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["queued", "running", "succeeded", "failed"])
    deduplicated = serializers.BooleanField()


class UsageSerializer(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()


class JobResultSerializer(serializers.Serializer):
    content = serializers.CharField()
    model = serializers.CharField()
    usage = UsageSerializer()


class JobErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class JobSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    request_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["queued", "running", "succeeded", "failed"])
    personality = serializers.SlugField()
    result = JobResultSerializer(allow_null=True)
    error = JobErrorSerializer(allow_null=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.DictField()


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the whole API."""

    error = ErrorDetailSerializer()
