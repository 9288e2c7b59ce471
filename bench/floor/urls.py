"""Two views that accept a generation request and do nothing with it (``bench/stack_floor.py``).

``/ai/generate`` parses and validates the body with the real
``GenerateRequestSerializer`` on an adrf view (what our API view is built on)
behind the lean API handler, and answers ``202`` with a made-up job: the cost
of Django and DRF alone, with no token, no Redis and no database. With
``FLOOR_VALIDATE=0`` the body is parsed (``request.data``) but not validated.
"""

from __future__ import annotations

import os
import uuid

from adrf.views import APIView
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response

from gateway.serializers import GenerateRequestSerializer

VALIDATE = os.environ.get("FLOOR_VALIDATE", "1") != "0"


class AcceptOnly(APIView):
    authentication_classes: list[type] = []
    permission_classes: list[type] = []

    async def post(self, request: Request) -> Response:
        if VALIDATE:
            GenerateRequestSerializer(data=request.data).is_valid(raise_exception=True)
        else:
            request.data  # noqa: B018 - parsed, as a view that validates would
        body = {
            "job_id": str(uuid.uuid4()),
            "request_id": str(uuid.uuid4()),
            "status": "queued",
            "deduplicated": False,
        }
        return Response(body, status=202)


urlpatterns = [path("ai/generate", AcceptOnly.as_view())]
