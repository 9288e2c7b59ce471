"""``GET /health``: is the database, Redis and at least one worker alive?

Each check runs concurrently under its own deadline, so the endpoint answers
within about 1.5 s even when a server hangs rather than refusing connections.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import redis.asyncio as aioredis
from adrf.views import APIView
from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers

from .heartbeat import WORKERS_KEY

CHECK_TIMEOUT = 1.5


async def check_database() -> dict[str, Any]:
    params = connections["default"].settings_dict
    conn = await psycopg.AsyncConnection.connect(
        dbname=params["NAME"],
        user=params["USER"],
        password=params["PASSWORD"],
        host=params["HOST"],
        port=params["PORT"] or None,
        connect_timeout=1,
        autocommit=True,
    )
    async with conn:
        await conn.execute("SELECT 1")
    return {}


def _redis() -> aioredis.Redis:
    return aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)


async def check_redis() -> dict[str, Any]:
    client = _redis()
    try:
        await client.ping()
    finally:
        await client.aclose()
    return {}


async def check_worker() -> dict[str, Any]:
    client = _redis()
    try:
        fresh_after = time.time() - 3 * settings.WORKER_HEARTBEAT_INTERVAL
        alive = await client.zcount(WORKERS_KEY, fresh_after, "+inf")
    finally:
        await client.aclose()
    if not alive:
        raise RuntimeError(f"no worker heartbeat in the last {3 * settings.WORKER_HEARTBEAT_INTERVAL:g} s")
    return {"workers": alive}


async def _timed(check: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        extra = await asyncio.wait_for(check(), CHECK_TIMEOUT)
    except TimeoutError:
        return {"ok": False, "error": f"no answer within {CHECK_TIMEOUT:g} s"}
    except Exception as exc:
        # Connection errors can quote the URL; report only the kind of failure.
        message = str(exc) if isinstance(exc, RuntimeError) else type(exc).__name__
        return {"ok": False, "error": message}
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 1), **extra}


CHECKS: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
    "database": check_database,
    "redis": check_redis,
    "worker": check_worker,
}


class CheckSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    latency_ms = serializers.FloatField(required=False)
    error = serializers.CharField(required=False)


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["healthy", "degraded"])
    checks = serializers.DictField(child=CheckSerializer())
    failing = serializers.ListField(child=serializers.CharField(), required=False)


class HealthApi(APIView):
    authentication_classes: list[type] = []
    permission_classes: list[type] = []

    @extend_schema(
        operation_id="health",
        summary="Health of the database, Redis and the workers (answers within 2 s)",
        auth=[],
        responses={
            200: HealthSerializer,
            503: OpenApiResponse(HealthSerializer, description="A check failed; `failing` names it."),
        },
    )
    async def get(self, request: HttpRequest) -> JsonResponse:
        results = await asyncio.gather(*(_timed(check) for check in CHECKS.values()))
        checks = dict(zip(CHECKS, results, strict=True))
        failing = [name for name, result in checks.items() if not result["ok"]]
        if failing:
            return JsonResponse({"status": "degraded", "checks": checks, "failing": failing}, status=503)
        return JsonResponse({"status": "healthy", "checks": checks})
