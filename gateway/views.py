"""Base class for the async API views."""

from __future__ import annotations

import inspect
from typing import Any

from adrf.views import APIView
from django.http import HttpRequest
from rest_framework.response import Response

from .auth import resolve_token


class AsyncApiView(APIView):
    """adrf's ``APIView`` with DRF's checks on the event loop.

    adrf runs ``initial()`` (authentication, permissions, throttles) in a
    thread for every request. Here the bearer token is resolved first
    (``resolve_token``: a cache hit needs no thread, a miss queries in one), so
    ``initial()`` does no I/O and runs inline. Views built on this must keep
    their permissions and throttles free of I/O; their handlers are coroutines
    that send blocking work through ``gateway.concurrency.run_blocking``.
    """

    async def async_dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Response:
        self.args = args
        self.kwargs = kwargs
        drf_request = self.initialize_request(request, *args, **kwargs)
        self.request = drf_request
        self.headers = self.default_response_headers
        try:
            await resolve_token(request)
            self.initial(drf_request, *args, **kwargs)
            method = drf_request.method.lower()
            handler = (
                getattr(self, method, self.http_method_not_allowed)
                if method in self.http_method_names
                else self.http_method_not_allowed
            )
            response = handler(drf_request, *args, **kwargs)
            if inspect.isawaitable(response):
                response = await response
        except Exception as exc:
            response = self.handle_exception(exc)
        self.response = self.finalize_response(drf_request, response, *args, **kwargs)
        return self.response
