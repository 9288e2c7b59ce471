"""ASGI entry point (uvicorn serves this; long-polls need no thread while waiting).

Two Django handlers share the process. The token-authenticated JSON API
(paths starting with ``API_PATH_PREFIXES``) goes through ``ApiHandler``:
Django and DRF as usual, but without the browser middleware (sessions, CSRF,
auth, messages) that the admin needs and a bearer-token API never uses. Under
ASGI each of those middlewares costs two hops to a thread per request; without
them an API request runs on the event loop, and only its database steps go to
a shared pool of threads (``gateway.concurrency``). Everything else (admin,
API docs, static files) goes through Django's full handler and middleware.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tzurot_project.settings")

from tzurot_project.config import load_settings_or_exit

load_settings_or_exit()

import django  # noqa: E402

django.setup(set_prefix=False)

import asyncio  # noqa: E402
import contextlib  # noqa: E402
from typing import Any  # noqa: E402

from asgiref.sync import iscoroutinefunction  # noqa: E402
from django.core.exceptions import RequestAborted  # noqa: E402
from django.core.handlers.asgi import ASGIHandler, get_script_prefix  # noqa: E402
from django.core.handlers.exception import convert_exception_to_response  # noqa: E402
from django.http import HttpRequest, HttpResponseBase  # noqa: E402
from django.urls import set_script_prefix  # noqa: E402

from gateway.concurrency import api_fast_path, run_blocking  # noqa: E402

# The generation API and the health check; other token-only API paths may join.
API_PATH_PREFIXES = ("/ai/", "/health")

# What SecurityMiddleware and XFrameOptionsMiddleware would add (with the
# project's settings), so API answers carry the same headers on either path.
API_RESPONSE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def _api_headers(get_response: Any) -> Any:
    async def middleware(request: HttpRequest) -> HttpResponseBase:
        response = await get_response(request)
        for header, value in API_RESPONSE_HEADERS.items():
            response.headers.setdefault(header, value)
        # As CommonMiddleware does: a length, so the server need not chunk.
        if not response.streaming and not response.has_header("Content-Length"):
            response.headers["Content-Length"] = str(len(response.content))
        return response

    return middleware


def _close_resources(response: HttpResponseBase) -> None:
    """``HttpResponse.close()`` without its ``request_finished`` signal (see ``ApiHandler.handle``)."""
    for closer in response._resource_closers:
        with contextlib.suppress(Exception):
            closer()
    response._resource_closers.clear()
    response.closed = True


class ApiHandler(ASGIHandler):
    """Django's ASGI handler for the API: no middleware but the headers above."""

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        self._middleware_chain = _api_headers(convert_exception_to_response(self._get_response_async))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # No ThreadSensitiveContext (a thread per request): the API's blocking
        # steps run on gateway.concurrency's shared pool instead.
        token = api_fast_path.set(True)
        try:
            await self.handle(scope, receive, send)
        finally:
            api_fast_path.reset(token)

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Django's ``ASGIHandler.handle`` without its hops to a thread or its request signals.

        Django sends ``request_started``/``request_finished`` (and closes the
        response) through ``sync_to_async``, because their receivers reset the
        query log and close the database connections of the request's thread
        (and close cache connections). An API request has none on the event
        loop: Django refuses database access there, and its database work
        runs in ``run_blocking``, which gives its connection back itself. So
        the signals are not sent at all (their receivers walked every
        connection for nothing: a tenth of the web process's CPU under load)
        and the response's resources are closed directly. The rest is
        Django's: a client that disconnects cancels its request (a long-poll
        stops waiting).
        """
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            await self.send_response(error_response, send)
            _close_resources(error_response)
            return

        async def process_request() -> HttpResponseBase:
            response = await self.run_get_response(request)
            with contextlib.suppress(asyncio.CancelledError):  # the client went away mid-send
                await self.send_response(response, send)
            return response

        disconnect = asyncio.create_task(self.listen_for_disconnect(receive))
        serve = asyncio.create_task(process_request())
        await asyncio.wait([disconnect, serve], return_when=asyncio.FIRST_COMPLETED)
        for task in (disconnect, serve):
            if task.done():
                with contextlib.suppress(RequestAborted):
                    task.result()
            else:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if not serve.cancelled():
            _close_resources(serve.result())
        body_file.close()

    async def _get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        """Resolve and call the view; render a DRF/template response on the loop.

        Django renders deferred responses through ``sync_to_async``; an API
        response is JSON, rendered in microseconds, so no thread is needed.
        A synchronous view (none of the API's are) runs in ``run_blocking``.
        """
        callback, args, kwargs = self.resolve_request(request)
        if iscoroutinefunction(callback):
            response = await callback(request, *args, **kwargs)
        else:
            response = await run_blocking(callback, request, *args, **kwargs)
        self.check_response(response, callback)
        if callable(getattr(response, "render", None)):
            response = response.render()
        return response


django_application = ASGIHandler()
api_application = ApiHandler()


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope["path"].startswith(API_PATH_PREFIXES):
        await api_application(scope, receive, send)
    else:
        await django_application(scope, receive, send)
