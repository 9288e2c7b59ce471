"""The generation API: queue a generation, read (or wait for) its job."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from personalities_app.models import Personality

from . import events
from .auth import TokenPrincipal, token_cache_clear
from .concurrency import run_blocking
from .errors import NotFound
from .models import FINISHED
from .serializers import GenerateRequestSerializer, GenerateResponseSerializer, JobSerializer, error_response
from .services import JobRequest, StaleReference, job_public_get, job_submit, personality_for_job
from .views import AsyncApiView


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    descriptions = {
        400: "Invalid input; `error.message` names the field, `error.details.fields` has every problem.",
        401: "Missing or invalid token.",
        403: "The token may not act for that user.",
        404: "No such personality or job (or it belongs to another token).",
        503: "Redis (the queue) is unavailable; nothing was queued.",
    }
    return {code: error_response(descriptions[code]) for code in codes}


class GenerateApi(AsyncApiView):
    @extend_schema(
        operation_id="ai_generate",
        summary="Queue a character's reply",
        request=GenerateRequestSerializer,
        responses={202: GenerateResponseSerializer, **_errors(400, 401, 403, 404, 503)},
    )
    async def post(self, request: Request) -> Response:
        serializer = GenerateRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = serializer.validated_data
        principal: TokenPrincipal = request.user  # type: ignore[assignment]
        context = data["context"]
        if not principal.may_act_for(context["user_id"]):
            raise PermissionDenied("This token may not act for that user.")
        submitted = await run_blocking(self._submit, data, principal)
        body = {
            "job_id": str(submitted.job_id),
            "request_id": str(submitted.request_id),
            "status": submitted.status,
            "deduplicated": submitted.deduplicated,
        }
        return Response(body, status=status.HTTP_202_ACCEPTED)

    @staticmethod
    def _submit(data: dict[str, Any], principal: TokenPrincipal) -> Any:
        try:
            return GenerateApi._submit_for(personality_for_job(data["personality"]), data, principal)
        except StaleReference:
            # Deleted since it was cached: look again (a 404 now, or its new row).
            fresh = personality_for_job(data["personality"], fresh=True)
        try:
            return GenerateApi._submit_for(fresh, data, principal)
        except StaleReference:
            # The personality is current, so the token was deleted since it was cached.
            token_cache_clear()
            raise AuthenticationFailed("The token is not valid, or it has been revoked.") from None

    @staticmethod
    def _submit_for(personality: Personality, data: dict[str, Any], principal: TokenPrincipal) -> Any:
        context = data["context"]
        return job_submit(
            request=JobRequest(
                personality=personality,
                message=data["message"],
                user_id=context["user_id"],
                user_name=context.get("user_name") or "",
                channel_id=context.get("channel_id") or "",
                guild_id=context.get("guild_id") or "",
                thread_id=context.get("thread_id") or "",
                message_id=context.get("message_id") or "",
                context={
                    "history": context.get("history") or [],
                    "referenced_message": context.get("referenced_message"),
                    "attachments": context.get("attachments") or [],
                },
                model_override=data.get("model") or "",
            ),
            token=principal.token,
        )


class JobApi(AsyncApiView):
    @extend_schema(
        operation_id="ai_job",
        summary="A job's status and result; `wait` holds the request until it ends",
        parameters=[
            OpenApiParameter(
                "wait",
                {"type": "number", "minimum": 0, "maximum": settings.JOB_WAIT_MAX},
                description=f"Seconds (0-{settings.JOB_WAIT_MAX}) to hold the request until the job ends.",
            )
        ],
        responses={200: JobSerializer, **_errors(400, 401, 404)},
    )
    async def get(self, request: Request, job_id: uuid.UUID) -> Response:
        wait = self._wait_seconds(request)
        principal: TokenPrincipal = request.user  # type: ignore[assignment]
        if wait == 0:
            return Response(await self._load(job_id, principal))

        # Listen first, then read once: a job that ends after the read is
        # caught by the listener, one that ended before it by the read.
        waiter = events.waiter()
        try:
            await waiter.ensure_listening()
        except (TimeoutError, OSError):
            # No event stream right now: answer with what the database says.
            return Response(await self._load(job_id, principal))
        future = waiter.register(str(job_id))
        try:
            payload = await self._load(job_id, principal)
            if payload["status"] not in FINISHED:
                try:
                    payload = await asyncio.wait_for(asyncio.shield(future), timeout=wait)
                except TimeoutError:
                    payload = await self._load(job_id, principal)
        finally:
            waiter.unregister(str(job_id), future)
        return Response(payload)

    @staticmethod
    def _wait_seconds(request: Request) -> float:
        raw = request.query_params.get("wait", "0")
        try:
            wait = float(raw)
        except ValueError:
            wait = -1
        if not 0 <= wait <= settings.JOB_WAIT_MAX:
            from rest_framework.exceptions import ValidationError

            raise ValidationError(
                {"wait": [f"Must be a number of seconds from 0 to {settings.JOB_WAIT_MAX}."]}
            )
        return wait

    @staticmethod
    async def _load(job_id: uuid.UUID, principal: TokenPrincipal) -> dict[str, Any]:
        return await run_blocking(_job_for, job_id, principal)


def _job_for(job_id: uuid.UUID, principal: TokenPrincipal) -> dict[str, Any]:
    """The job as the API shows it, if this token may see it (the service token sees all)."""
    found = job_public_get(job_id=job_id, token_id=None if principal.is_service else principal.token.pk)
    if found is None:
        raise NotFound("There is no such job.", code="unknown_job")
    return found
