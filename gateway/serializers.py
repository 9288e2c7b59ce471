"""Input validation and output shapes of the generation API."""

from __future__ import annotations

import re
from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema_serializer
from rest_framework import serializers
from rest_framework.utils.serializer_helpers import BindingDict

DISCORD_ID = r"^\d{1,20}$"
MAX_MESSAGE = 8000
MAX_HISTORY = 100
MAX_ATTACHMENTS = 10


class InputSerializer(serializers.Serializer):
    """A serializer that only validates input, with its field tree built once per class.

    DRF deep-copies every declared field, nested serializers and all, for each
    instance: for a generation request that copy cost more than the rest of
    the validation. Validating keeps no state on the fields (errors and
    values live in locals and on the top-level instance), so one tree, bound
    to a template instance, serves every instance. Not for output, partial
    updates or serializers that read ``context``.
    """

    @property
    def fields(self) -> BindingDict:  # type: ignore[override]
        cls = type(self)
        shared: BindingDict | None = cls.__dict__.get("_shared_fields")
        if shared is None:
            template = cls()
            shared = BindingDict(template)
            for name, field in template.get_fields().items():
                shared[name] = field
            cls._shared_fields = shared  # type: ignore[attr-defined]
        return shared

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("partial") or kwargs.get("context"):
            raise TypeError("InputSerializer validates whole input without context.")
        super().__init__(*args, **kwargs)


class EagerRegexField(serializers.RegexField):
    """DRF's ``RegexField`` with its pattern compiled once, not behind a lazy object.

    Django's ``RegexValidator`` keeps its pattern in a ``SimpleLazyObject``, so
    every match goes through the lazy object's attribute lookup; a generation
    request has up to a dozen such fields, and the indirection cost more than
    the matching. The validator (and the OpenAPI ``pattern`` read from it) is
    otherwise unchanged.
    """

    def __init__(self, regex: str, **kwargs: Any) -> None:
        super().__init__(regex, **kwargs)
        for validator in self.validators:
            if isinstance(validator, RegexValidator):
                validator.regex = re.compile(validator.regex.pattern)


class DiscordIdField(EagerRegexField):
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
    content_type = EagerRegexField(
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
class GenerateRequestSerializer(InputSerializer):
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
    code = serializers.CharField(help_text="Stable machine-readable code, e.g. 'not_found'.")
    message = serializers.CharField(help_text="A message an end user can read.")
    details = serializers.DictField(help_text="More about the error; `fields` for invalid input.")


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the whole API."""

    error = ErrorDetailSerializer()


def error_response(description: str) -> OpenApiResponse:
    """An error response for ``extend_schema``: the one error shape, with what it means here."""
    return OpenApiResponse(ErrorSerializer, description=description)
