"""REST API for users' own keys: set, delete, list (hints only), check.

Auth: the service token, or a token of the user named in the path.
No response, error included, ever contains a key.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.auth import require_acting_for
from gateway.errors import NotFound
from gateway.serializers import error_response

from .models import UserCredential
from .selectors import credential_status
from .services import credential_delete, credential_set, credential_verify, provider_check, user_id_check


class CredentialSetSerializer(serializers.Serializer):
    # The key's own rules (length, characters) are checked by credential_set,
    # so every caller gets the same ones, with messages that never quote it.
    api_key = serializers.CharField(trim_whitespace=False, allow_blank=True, max_length=4096)
    base_url = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=4096)
    verify = serializers.BooleanField(required=False, default=True)


class CredentialSerializer(serializers.ModelSerializer):
    class Meta:
        model = UserCredential
        fields = ["provider", "hint", "is_valid", "created_at", "last_used_at"]


class VerifyResultSerializer(serializers.Serializer):
    provider = serializers.CharField()
    valid = serializers.BooleanField()
    message = serializers.CharField()


_error = error_response


_AUTH_ERRORS = {
    401: _error("No token, or not a valid one (`unauthenticated`)."),
    403: _error("The token may not act for this user (`forbidden`)."),
}
_BAD_USER = _error("The user id is not a Discord id (`invalid_request`).")
_UNKNOWN_PROVIDER = "Unknown provider (`unknown_provider`; valid: openrouter, openai, custom)"
_UNREACHABLE = _error(
    "The provider could not be asked (timeout, connection failure, unexpected answer): "
    "`provider_unreachable`. Nothing was stored or changed."
)


def _acting_user(request: Request, user_id: str) -> str:
    require_acting_for(request, user_id)
    return user_id_check(user_id)


class CredentialListApi(APIView):
    @extend_schema(
        operation_id="credentials_list",
        summary="The user's stored keys: provider and hint only",
        responses={200: CredentialSerializer(many=True), 400: _BAD_USER, **_AUTH_ERRORS},
        tags=["credentials"],
    )
    def get(self, request: Request, user_id: str) -> Response:
        user_id = _acting_user(request, user_id)
        return Response(CredentialSerializer(credential_status(user_id=user_id), many=True).data)


class CredentialApi(APIView):
    @extend_schema(
        operation_id="credentials_set",
        summary="Store (or replace) the user's key for a provider",
        description=(
            "With `verify` (the default) the key is first checked against the provider; a key it "
            "rejects is not stored (400 `invalid_api_key`), and an existing key is kept. "
            "`base_url` is required for `custom` and refused for the others."
        ),
        request=CredentialSetSerializer,
        responses={
            200: CredentialSerializer,
            400: _error(
                "Invalid input naming the field (`invalid_request`), or the provider rejected "
                "the key (`invalid_api_key`)."
            ),
            **_AUTH_ERRORS,
            404: _error(_UNKNOWN_PROVIDER + "."),
            503: _UNREACHABLE,
        },
        tags=["credentials"],
    )
    def put(self, request: Request, user_id: str, provider: str) -> Response:
        user_id = _acting_user(request, user_id)
        provider_check(provider)
        serializer = CredentialSetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        credential = credential_set(user_id=user_id, provider=provider, **serializer.validated_data)
        return Response(CredentialSerializer(credential).data)

    @extend_schema(
        operation_id="credentials_delete",
        summary="Delete the user's key for a provider",
        responses={
            204: OpenApiResponse(description="Deleted."),
            400: _BAD_USER,
            **_AUTH_ERRORS,
            404: _error(_UNKNOWN_PROVIDER + ", or no key stored for it (`not_found`)."),
        },
        tags=["credentials"],
    )
    def delete(self, request: Request, user_id: str, provider: str) -> Response:
        user_id = _acting_user(request, user_id)
        provider = provider_check(provider)
        if not credential_delete(user_id=user_id, provider=provider):
            raise NotFound(f"No {provider.label} key is stored for this user.")
        return Response(status=status.HTTP_204_NO_CONTENT)


class CredentialVerifyApi(APIView):
    @extend_schema(
        operation_id="credentials_verify",
        summary="Check the stored key against the provider now",
        description="A key the provider rejects answers `valid: false` and is no longer used.",
        request=None,
        responses={
            200: VerifyResultSerializer,
            400: _BAD_USER,
            **_AUTH_ERRORS,
            404: _error(_UNKNOWN_PROVIDER + ", or no key stored for it (`not_found`)."),
            409: _error(
                "The stored key cannot be decrypted (the server's encryption key changed): "
                "`credential_unreadable`; set it again."
            ),
            503: _UNREACHABLE,
        },
        tags=["credentials"],
    )
    def post(self, request: Request, user_id: str, provider: str) -> Response:
        user_id = _acting_user(request, user_id)
        provider = provider_check(provider)
        valid, message = credential_verify(user_id=user_id, provider=provider)
        return Response(
            VerifyResultSerializer({"provider": provider.value, "valid": valid, "message": message}).data
        )
