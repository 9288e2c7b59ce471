"""REST API of the personalities app: personalities, channel activation, user selection,
relationship profiles.

Thin views: validate with a small serializer, call one selector or service,
serialise the result. Every error has the one shape of ``gateway.errors``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.auth import TokenPrincipal, require_acting_for
from gateway.errors import NotFound
from gateway.serializers import error_response

from .models import ChannelActivation, Personality, RelationshipProfile, UserSelection
from .selectors import activation_get, personality_get, personality_list_public, profile_get, selection_get
from .services import (
    PROFILE_FIELDS,
    activation_clear,
    activation_set,
    profile_delete,
    profile_set,
    profile_update,
    selection_clear,
    selection_set,
)
from .validators import DISCORD_ID_RE, MAX_BACKSTORY_CHARS, MAX_FACT_CHARS, MAX_FACTS, SLUG_RE

# --- Schemas ------------------------------------------------------------------------


_error = error_response


E400 = _error("Invalid input; the message and `details.fields` name the field.")
E401 = _error("Missing, malformed or revoked token.")
E403 = _error("This token may not do that.")


class PersonalityPublicSerializer(serializers.ModelSerializer):
    avatar = serializers.CharField(read_only=True, help_text="Public URL of the avatar, or ''.")
    aliases = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Personality
        fields = (
            "slug",
            "name",
            "display_name",
            "aliases",
            "avatar",
            "greeting",
            "error_message",
            "is_active",
        )
        read_only_fields = fields


PRIVATE_FIELDS = (
    "system_prompt",
    "character_info",
    "traits",
    "tone",
    "scenario",
    "likes",
    "dislikes",
    "example_dialogue",
    "model",
    "effective_model",
    "temperature",
    "max_output_tokens",
    "memory_enabled",
    "memory_scope",
    "memory_top_k",
    "memory_threshold",
    "is_public",
    "owner_user_id",
    "extensions",
    "created_at",
    "updated_at",
)


class PersonalityPrivateSerializer(PersonalityPublicSerializer):
    """Everything, for the service token and the personality's owner."""

    effective_model = serializers.CharField(read_only=True, help_text="`model`, or DEFAULT_MODEL.")
    extensions = serializers.DictField(read_only=True)

    class Meta(PersonalityPublicSerializer.Meta):
        fields = PersonalityPublicSerializer.Meta.fields + PRIVATE_FIELDS
        read_only_fields = fields


class ActivationSerializer(serializers.ModelSerializer):
    personality = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    guild_id = serializers.SerializerMethodField()

    class Meta:
        model = ChannelActivation
        fields = ("channel_id", "personality", "guild_id", "activated_by", "created_at")
        read_only_fields = fields

    def get_guild_id(self, activation: ChannelActivation) -> str | None:
        return activation.guild_id or None


def _discord_id_field(**kwargs: Any) -> serializers.RegexField:
    return serializers.RegexField(
        DISCORD_ID_RE, error_messages={"invalid": "A Discord id is a string of digits."}, **kwargs
    )


class ActivationInputSerializer(serializers.Serializer):
    personality = serializers.SlugField(help_text="Slug of an active personality.")
    guild_id = _discord_id_field(required=False, allow_null=True, default=None)
    activated_by = _discord_id_field(
        required=False, allow_blank=True, default="", help_text="Discord id of the user who activated it."
    )


class SelectionSerializer(serializers.ModelSerializer):
    personality = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    channel_id = serializers.SerializerMethodField(help_text="null: the global selection.")

    class Meta:
        model = UserSelection
        fields = ("personality", "channel_id")
        read_only_fields = fields

    def get_channel_id(self, selection: UserSelection) -> str | None:
        return selection.channel_id or None


class SelectionInputSerializer(serializers.Serializer):
    personality = serializers.SlugField(help_text="Slug of an active personality.")
    channel_id = _discord_id_field(
        required=False, allow_null=True, default=None, help_text="null: the global selection."
    )


# --- Helpers ------------------------------------------------------------------------------


def _check_id(value: str | None, field: str) -> None:
    if value is not None and not DISCORD_ID_RE.fullmatch(value):
        raise exceptions.ValidationError({field: ["A Discord id is a string of digits."]})


def _query_id(request: Request, field: str) -> str | None:
    value = request.query_params.get(field)
    if value == "":
        return None
    _check_id(value, field)
    return value


def _require_service(request: Request, what: str) -> None:
    if not (isinstance(request.user, TokenPrincipal) and request.user.is_service):
        raise exceptions.PermissionDenied(f"Only the service token may {what}.")


# --- Personalities -------------------------------------------------------------------------


class PersonalityListApi(APIView):
    @extend_schema(
        operation_id="personalities_list",
        summary="Public personalities",
        description="Every active, public personality, by name, with its public fields.",
        responses={200: PersonalityPublicSerializer(many=True), 401: E401},
        tags=["personalities"],
    )
    def get(self, request: Request) -> Response:
        return Response(PersonalityPublicSerializer(personality_list_public(), many=True).data)


class PersonalityDetailApi(APIView):
    @extend_schema(
        operation_id="personalities_retrieve",
        summary="One personality",
        description=(
            "Public fields for everyone. The service token and the personality's owner "
            "(a token whose user id is `owner_user_id`) also get its private internals. "
            "A private personality is visible only to them: 404 for anyone else."
        ),
        responses={
            200: PolymorphicProxySerializer(
                component_name="PersonalityDetail",
                serializers=[PersonalityPublicSerializer, PersonalityPrivateSerializer],
                resource_type_field_name=None,
            ),
            401: E401,
            404: _error("No active personality with this slug (or a private one of another user)."),
        },
        tags=["personalities"],
    )
    def get(self, request: Request, slug: str) -> Response:
        user = request.user
        assert isinstance(user, TokenPrincipal)
        personality = personality_get(slug=slug, viewer_user_id=None if user.is_service else user.user_id)
        insider = user.is_service or (bool(user.user_id) and user.user_id == personality.owner_user_id)
        serializer = PersonalityPrivateSerializer if insider else PersonalityPublicSerializer
        return Response(serializer(personality).data)


# --- Channel activation ---------------------------------------------------------------------


class ChannelActivationApi(APIView):
    @extend_schema(
        operation_id="channel_activation_retrieve",
        summary="A channel's activated personality",
        description="A thread inherits its parent channel's activation: pass `parent_channel_id`.",
        parameters=[
            OpenApiParameter(
                "parent_channel_id", str, description="For a thread: its parent channel.", required=False
            )
        ],
        responses={
            200: ActivationSerializer,
            400: E400,
            401: E401,
            404: _error("No personality is activated in this channel."),
        },
        tags=["channels"],
    )
    def get(self, request: Request, channel_id: str) -> Response:
        _check_id(channel_id, "channel_id")
        activation = activation_get(
            channel_id=channel_id, parent_channel_id=_query_id(request, "parent_channel_id")
        )
        if activation is None:
            raise NotFound("No personality is activated in this channel.", details={"channel_id": channel_id})
        return Response(ActivationSerializer(activation).data)

    @extend_schema(
        operation_id="channel_activation_set",
        summary="Activate a personality in a channel (service token only)",
        description="It then answers every message there; replaces any earlier activation.",
        request=ActivationInputSerializer,
        responses={
            200: ActivationSerializer,
            400: E400,
            401: E401,
            403: _error("Not the service token."),
            404: _error("No such active personality (or a private one `activated_by` does not own)."),
        },
        tags=["channels"],
    )
    def put(self, request: Request, channel_id: str) -> Response:
        _require_service(request, "change a channel's activation")
        _check_id(channel_id, "channel_id")
        data = ActivationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        activated_by = data.validated_data["activated_by"]
        personality = personality_get(
            slug=data.validated_data["personality"], viewer_user_id=activated_by or None
        )
        activation = activation_set(
            channel_id=channel_id,
            personality=personality,
            guild_id=data.validated_data["guild_id"],
            activated_by=activated_by,
        )
        return Response(ActivationSerializer(activation).data)

    @extend_schema(
        operation_id="channel_activation_clear",
        summary="Deactivate a channel (service token only)",
        responses={
            204: OpenApiResponse(description="Deactivated."),
            400: E400,
            401: E401,
            403: _error("Not the service token."),
            404: _error("No personality is activated in this channel."),
        },
        tags=["channels"],
    )
    def delete(self, request: Request, channel_id: str) -> Response:
        _require_service(request, "change a channel's activation")
        _check_id(channel_id, "channel_id")
        if not activation_clear(channel_id=channel_id):
            raise NotFound("No personality is activated in this channel.", details={"channel_id": channel_id})
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- User selection ----------------------------------------------------------------------------

CHANNEL_PARAMETER = OpenApiParameter(
    "channel_id", str, required=False, description="A channel; without it, the global selection."
)
SELECTION_403 = _error("This token may not act for that user.")


class UserSelectionApi(APIView):
    @extend_schema(
        operation_id="user_selection_retrieve",
        summary="A user's selected personality",
        description="The user's selection in `channel_id` if there is one, else their global selection.",
        parameters=[CHANNEL_PARAMETER],
        responses={
            200: SelectionSerializer,
            400: E400,
            401: E401,
            403: SELECTION_403,
            404: _error("The user has selected no personality here."),
        },
        tags=["users"],
    )
    def get(self, request: Request, user_id: str) -> Response:
        _check_id(user_id, "user_id")
        require_acting_for(request, user_id)
        selection = selection_get(user_id=user_id, channel_id=_query_id(request, "channel_id"))
        if selection is None:
            raise NotFound("This user has selected no personality here.", details={"user_id": user_id})
        return Response(SelectionSerializer(selection).data)

    @extend_schema(
        operation_id="user_selection_set",
        summary="Select a personality for a user (in a channel or everywhere)",
        request=SelectionInputSerializer,
        responses={
            200: SelectionSerializer,
            400: E400,
            401: E401,
            403: SELECTION_403,
            404: _error("No such active personality (or a private one of another user)."),
        },
        tags=["users"],
    )
    def put(self, request: Request, user_id: str) -> Response:
        _check_id(user_id, "user_id")
        require_acting_for(request, user_id)
        data = SelectionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        personality = personality_get(slug=data.validated_data["personality"], viewer_user_id=user_id)
        selection = selection_set(
            user_id=user_id, personality=personality, channel_id=data.validated_data["channel_id"]
        )
        return Response(SelectionSerializer(selection).data)

    @extend_schema(
        operation_id="user_selection_clear",
        summary="Forget a user's selection (in a channel, or the global one)",
        parameters=[CHANNEL_PARAMETER],
        responses={
            204: OpenApiResponse(description="Forgotten."),
            400: E400,
            401: E401,
            403: SELECTION_403,
            404: _error("There was no such selection."),
        },
        tags=["users"],
    )
    def delete(self, request: Request, user_id: str) -> Response:
        _check_id(user_id, "user_id")
        require_acting_for(request, user_id)
        if not selection_clear(user_id=user_id, channel_id=_query_id(request, "channel_id")):
            raise NotFound("There was no such selection.", details={"user_id": user_id})
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Relationship profiles ------------------------------------------------------------------------


class ProfileSerializer(serializers.ModelSerializer):
    personality = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    notable_facts = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = RelationshipProfile
        fields = (
            "personality",
            "user_id",
            "preferred_name",
            "pronouns",
            "backstory",
            "notable_facts",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class ProfileInputSerializer(serializers.Serializer):
    preferred_name = serializers.CharField(
        max_length=80,
        allow_blank=True,
        required=False,
        help_text="What the character calls you ('' for your name).",
    )
    pronouns = serializers.CharField(max_length=40, allow_blank=True, required=False)
    backstory = serializers.CharField(
        max_length=MAX_BACKSTORY_CHARS,
        allow_blank=True,
        required=False,
        trim_whitespace=False,
        help_text="Your story with this character, in your words.",
    )
    notable_facts = serializers.ListField(
        child=serializers.CharField(max_length=MAX_FACT_CHARS),
        max_length=MAX_FACTS,
        required=False,
        help_text=f"Short facts the character should keep in mind (at most {MAX_FACTS}).",
    )

    def validate_preferred_name(self, value: str) -> str:
        if "\n" in value:
            raise serializers.ValidationError("A name is one line.")
        return value

    def validate_pronouns(self, value: str) -> str:
        if "\n" in value:
            raise serializers.ValidationError("Pronouns are one line.")
        return value


PROFILE_403 = _error("This token may not act for that user.")
PROFILE_PARAMETERS = [
    OpenApiParameter("user_id", str, OpenApiParameter.PATH, description="Discord user id (digits)."),
    OpenApiParameter("slug", str, OpenApiParameter.PATH, description="The personality's slug."),
]
# PUT and PATCH answer alike; only what they change differs.
PROFILE_WRITE_RESPONSES = {
    200: ProfileSerializer,
    400: E400,
    401: E401,
    403: PROFILE_403,
    404: _error("No such active personality (or a private one of another user)."),
}


def _profile_personality(slug: str, user_id: str, *, for_writing: bool) -> Personality:
    """The personality of a profile.

    Writing needs one the user may talk to (active; public or theirs). Reading
    and deleting also find an inactive one: a user can always see and delete
    what is kept about them. A private personality of someone else is
    "not found" unless the user has a profile with it, so private slugs are
    not revealed.
    """
    if not SLUG_RE.fullmatch(slug):
        raise NotFound(f"There is no personality called '{slug}'.", details={"personality": slug})
    if for_writing:
        return personality_get(slug=slug, viewer_user_id=user_id)
    personality = Personality.objects.filter(slug=slug).first()
    hidden = personality is not None and not personality.is_public and personality.owner_user_id != user_id
    if personality is None or (hidden and profile_get(personality=personality, user_id=user_id) is None):
        raise NotFound(f"There is no personality called '{slug}'.", details={"personality": slug})
    return personality


def _validated(request: Request, *, partial: bool) -> dict[str, Any]:
    """The profile fields of the body; a field we do not know, or a PATCH that changes nothing, is 400."""
    body = request.data
    if isinstance(body, dict):
        unknown = sorted(set(body) - set(PROFILE_FIELDS))
        if unknown:
            hint = f"Not a profile field (the fields are {', '.join(PROFILE_FIELDS)})."
            raise serializers.ValidationError({name: [hint] for name in unknown})
    data = ProfileInputSerializer(data=body, partial=partial)
    data.is_valid(raise_exception=True)
    if partial and not data.validated_data:
        nothing = f"Give at least one of: {', '.join(PROFILE_FIELDS)}."
        raise serializers.ValidationError({"non_field_errors": [nothing]})
    return dict(data.validated_data)


class RelationshipProfileApi(APIView):
    @extend_schema(
        operation_id="user_profile_retrieve",
        summary="What a character knows of a user (their relationship profile)",
        parameters=PROFILE_PARAMETERS,
        responses={
            200: ProfileSerializer,
            400: E400,
            401: E401,
            403: PROFILE_403,
            404: _error("No such personality, or the user has no profile with it."),
        },
        tags=["users"],
    )
    def get(self, request: Request, user_id: str, slug: str) -> Response:
        _check_id(user_id, "user_id")
        require_acting_for(request, user_id)
        personality = _profile_personality(slug, user_id, for_writing=False)
        profile = profile_get(personality=personality, user_id=user_id)
        if profile is None:
            raise NotFound(
                f"You have no profile with {personality.shown_name} yet.",
                details={"user_id": user_id, "personality": slug},
            )
        return Response(ProfileSerializer(profile).data)

    @extend_schema(
        operation_id="user_profile_set",
        summary="Replace a user's profile with a character (created if missing)",
        description="Fields left out become empty.",
        parameters=PROFILE_PARAMETERS,
        request=ProfileInputSerializer,
        responses=PROFILE_WRITE_RESPONSES,
        tags=["users"],
    )
    def put(self, request: Request, user_id: str, slug: str) -> Response:
        _check_id(user_id, "user_id")
        require_acting_for(request, user_id)
        values = _validated(request, partial=False)
        personality = _profile_personality(slug, user_id, for_writing=True)
        profile, _ = profile_set(personality=personality, user_id=user_id, **values)
        return Response(ProfileSerializer(profile).data)

    @extend_schema(
        operation_id="user_profile_update",
        summary="Change some fields of a user's profile with a character (created if missing)",
        description="Only the fields given change.",
        parameters=PROFILE_PARAMETERS,
        request=ProfileInputSerializer,
        responses=PROFILE_WRITE_RESPONSES,
        tags=["users"],
    )
    def patch(self, request: Request, user_id: str, slug: str) -> Response:
        _check_id(user_id, "user_id")
        require_acting_for(request, user_id)
        values = _validated(request, partial=True)
        personality = _profile_personality(slug, user_id, for_writing=True)
        profile, _ = profile_update(personality=personality, user_id=user_id, **values)
        return Response(ProfileSerializer(profile).data)

    @extend_schema(
        operation_id="user_profile_delete",
        summary="Delete a user's profile with a character",
        parameters=PROFILE_PARAMETERS,
        responses={
            204: OpenApiResponse(description="Deleted."),
            400: E400,
            401: E401,
            403: PROFILE_403,
            404: _error("No such personality, or the user has no profile with it."),
        },
        tags=["users"],
    )
    def delete(self, request: Request, user_id: str, slug: str) -> Response:
        _check_id(user_id, "user_id")
        require_acting_for(request, user_id)
        personality = _profile_personality(slug, user_id, for_writing=False)
        if not profile_delete(personality=personality, user_id=user_id):
            raise NotFound("There was no such profile.", details={"user_id": user_id, "personality": slug})
        return Response(status=status.HTTP_204_NO_CONTENT)
