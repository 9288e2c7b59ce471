"""A loopback stand-in for the Tzurot REST API, written to the API contract.

The bot is a pure HTTP client of the API; this server lets its tests and the
benchmark run before (and without) the real gateway. It checks what the real
API checks that matters to a client (the bearer token, the shape of
``POST /ai/generate``) and is programmable:

* ``api.personalities`` — the public personalities (dicts as the API returns them);
* ``api.plan`` — a function of the generate body giving a ``JobPlan`` (content,
  delay, or an error code); the default echoes the message;
* ``api.fail_next(prefix, count, status=503)`` — the next ``count`` requests whose
  path starts with ``prefix`` get ``status``;
* ``api.rejected_keys`` — API keys answered with 400 ``invalid_api_key``;
* ``api.profiles`` — relationship profiles by (user id, slug), validated and
  normalised as the real API does (its limits, its messages, its error shape);
* every request is recorded in ``api.requests`` (method, path, query, headers, body).

Like the fake OpenAI server it runs aiohttp on its own loop in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

TOKEN = "tzr_fake_service_token"
_BODY = web.RequestKey("body", object)


def personality(slug: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "slug": slug,
        "name": name,
        "display_name": extra.pop("display_name", ""),
        "aliases": extra.pop("aliases", []),
        "avatar": extra.pop("avatar", f"https://cdn.example.org/{slug}.png"),
        "greeting": extra.pop("greeting", f"Hello, I am {name}."),
        "error_message": extra.pop("error_message", f"{name} is lost for words."),
        "is_active": True,
        **extra,
    }


@dataclass
class JobPlan:
    content: str = ""
    delay: float = 0.0
    error_code: str | None = None
    error_message: str = "Something went wrong."


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    at: float


@dataclass
class _Job:
    job_id: str
    personality: str
    plan: JobPlan
    created: float
    body: dict[str, Any]
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def finished(self) -> bool:
        return time.monotonic() >= self.created + self.plan.delay


def _echo(body: dict[str, Any]) -> JobPlan:
    return JobPlan(content=f"Echo: {body['message']}")


def _error(status: int, code: str, message: str, **details: Any) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, "details": details}}, status=status)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class FakeTzurotApi:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.personalities: list[dict[str, Any]] = []
        self.plan: Callable[[dict[str, Any]], JobPlan] = _echo
        self.activations: dict[str, dict[str, Any]] = {}
        self.selections: dict[tuple[str, str | None], str] = {}
        self.credentials: dict[tuple[str, str], dict[str, Any]] = {}
        self.memories: dict[tuple[str, str], int] = {}
        self.profiles: dict[tuple[str, str], dict[str, Any]] = {}
        self.rejected_keys: set[str] = set()
        self.requests: list[Recorded] = []
        self.response_delay = 0.0
        self._failures: list[list[Any]] = []
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # -- control ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, prefix: str, count: int = 1, status: int = 503) -> None:
        with self._lock:
            self._failures.append([prefix, count, status])

    def calls(self, method: str, prefix: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    def generations(self) -> list[dict[str, Any]]:
        return [r.body for r in self.calls("POST", "/ai/generate")]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._failures.clear()
            self._jobs.clear()
        self.personalities = []
        self.plan = _echo
        self.activations.clear()
        self.selections.clear()
        self.credentials.clear()
        self.memories.clear()
        self.profiles.clear()
        self.rejected_keys = set()
        self.response_delay = 0.0

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeTzurotApi:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._serve())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-tzurot-api", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake Tzurot API did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return

        async def shutdown() -> None:
            if self._runner:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> FakeTzurotApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _serve(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_post("/ai/generate", self._generate)
        r.add_get("/ai/jobs/{job_id}", self._job)
        r.add_get("/personalities/", self._personalities)
        r.add_get("/personalities/{slug}", self._personality)
        r.add_get("/channels/{channel_id}/activation", self._get_activation)
        r.add_put("/channels/{channel_id}/activation", self._put_activation)
        r.add_delete("/channels/{channel_id}/activation", self._delete_activation)
        r.add_get("/users/{user_id}/selection", self._get_selection)
        r.add_put("/users/{user_id}/selection", self._put_selection)
        r.add_delete("/users/{user_id}/selection", self._delete_selection)
        r.add_get("/users/{user_id}/credentials/", self._list_credentials)
        r.add_put("/users/{user_id}/credentials/{provider}", self._put_credential)
        r.add_delete("/users/{user_id}/credentials/{provider}", self._delete_credential)
        r.add_post("/users/{user_id}/credentials/{provider}/verify", self._verify_credential)
        r.add_delete("/users/{user_id}/memories", self._delete_memories)
        r.add_get("/users/{user_id}/profiles/{slug}", self._get_profile)
        r.add_patch("/users/{user_id}/profiles/{slug}", self._patch_profile)
        r.add_delete("/users/{user_id}/profiles/{slug}", self._delete_profile)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        self.port = self._runner.addresses[0][1]

    # -- plumbing ------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        body: Any = None
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                return _error(400, "malformed_request", "The body is not valid JSON.")
        with self._lock:
            self.requests.append(
                Recorded(
                    request.method,
                    request.path,
                    dict(request.query),
                    dict(request.headers),
                    body,
                    time.monotonic(),
                )
            )
            failure = next((f for f in self._failures if request.path.startswith(f[0]) and f[1] > 0), None)
            if failure is not None:
                failure[1] -= 1
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _error(401, "unauthenticated", "The token is not valid, or it has been revoked.")
        if failure is not None:
            return _error(failure[2], "service_unavailable", "Scripted failure.")
        if self.response_delay:
            await asyncio.sleep(self.response_delay)
        request[_BODY] = body
        return await handler(request)

    def _find(self, slug: str) -> dict[str, Any] | None:
        return next((p for p in self.personalities if p["slug"] == slug), None)

    # -- generation ----------------------------------------------------------------------------

    async def _generate(self, request: web.Request) -> web.Response:
        body = request[_BODY]
        problem = _check_generate(body)
        if problem:
            return _error(400, "invalid_request", problem, fields={problem.split(":")[0]: [problem]})
        if self._find(body["personality"]) is None:
            return _error(404, "not_found", f"No personality {body['personality']!r}.")
        job = _Job(str(uuid.uuid4()), body["personality"], self.plan(body), time.monotonic(), body)
        self._jobs[job.job_id] = job
        if job.plan.delay:
            asyncio.get_running_loop().call_later(job.plan.delay, job.done.set)
        else:
            job.done.set()
        return web.json_response(
            {
                "job_id": job.job_id,
                "request_id": str(uuid.uuid4()),
                "status": "queued",
                "deduplicated": False,
            },
            status=202,
        )

    async def _job(self, request: web.Request) -> web.Response:
        job = self._jobs.get(request.match_info["job_id"])
        if job is None:
            return _error(404, "not_found", "No such job.")
        wait = float(request.query.get("wait", "0") or 0)
        if not 0 <= wait <= 30:
            return _error(400, "invalid_request", "wait: must be between 0 and 30.")
        if wait and not job.done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(job.done.wait(), wait)
        finished = job.done.is_set()
        plan = job.plan
        status = "running" if not finished else ("failed" if plan.error_code else "succeeded")
        return web.json_response(
            {
                "job_id": job.job_id,
                "request_id": str(uuid.uuid4()),
                "status": status,
                "personality": job.personality,
                "result": None
                if status != "succeeded"
                else {
                    "content": plan.content,
                    "model": "fake-model",
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                },
                "error": {"code": plan.error_code, "message": plan.error_message}
                if status == "failed"
                else None,
                "created_at": _now(),
                "finished_at": _now() if finished else None,
            }
        )

    # -- personalities, activation, selection ---------------------------------------------------------

    async def _personalities(self, request: web.Request) -> web.Response:
        return web.json_response([p for p in self.personalities if p.get("is_active", True)])

    async def _personality(self, request: web.Request) -> web.Response:
        found = self._find(request.match_info["slug"])
        if found is None:
            return _error(404, "not_found", "No such personality.")
        return web.json_response(found)

    async def _get_activation(self, request: web.Request) -> web.Response:
        found = self.activations.get(request.match_info["channel_id"])
        if found is None:
            return _error(404, "not_found", "No personality is active in this channel.")
        return web.json_response(found)

    async def _put_activation(self, request: web.Request) -> web.Response:
        body = request[_BODY] or {}
        if self._find(str(body.get("personality"))) is None:
            return _error(400, "invalid_request", "personality: unknown personality.")
        channel_id = request.match_info["channel_id"]
        self.activations[channel_id] = {
            "channel_id": channel_id,
            "personality": body["personality"],
            "guild_id": body.get("guild_id"),
            "activated_by": body.get("activated_by"),
            "created_at": _now(),
        }
        return web.json_response(self.activations[channel_id])

    async def _delete_activation(self, request: web.Request) -> web.Response:
        if self.activations.pop(request.match_info["channel_id"], None) is None:
            return _error(404, "not_found", "No personality is active in this channel.")
        return web.Response(status=204)

    async def _get_selection(self, request: web.Request) -> web.Response:
        user = request.match_info["user_id"]
        channel = request.query.get("channel_id")
        slug = self.selections.get((user, channel)) or self.selections.get((user, None))
        if slug is None:
            return _error(404, "not_found", "No selection.")
        return web.json_response({"personality": slug, "channel_id": channel})

    async def _put_selection(self, request: web.Request) -> web.Response:
        body = request[_BODY] or {}
        if self._find(str(body.get("personality"))) is None:
            return _error(400, "invalid_request", "personality: unknown personality.")
        self.selections[(request.match_info["user_id"], body.get("channel_id"))] = body["personality"]
        return web.json_response({"personality": body["personality"], "channel_id": body.get("channel_id")})

    async def _delete_selection(self, request: web.Request) -> web.Response:
        key = (request.match_info["user_id"], request.query.get("channel_id"))
        if self.selections.pop(key, None) is None:
            return _error(404, "not_found", "No selection.")
        return web.Response(status=204)

    # -- credentials, memories --------------------------------------------------------------------------

    async def _list_credentials(self, request: web.Request) -> web.Response:
        user = request.match_info["user_id"]
        return web.json_response([c for (u, _), c in self.credentials.items() if u == user])

    async def _put_credential(self, request: web.Request) -> web.Response:
        body = request[_BODY] or {}
        provider = request.match_info["provider"]
        if provider not in ("openrouter", "openai", "custom"):
            return _error(400, "invalid_request", "provider: must be openrouter, openai or custom.")
        key = str(body.get("api_key") or "")
        if not key:
            return _error(400, "invalid_request", "api_key: this field is required.")
        if key in self.rejected_keys:
            return _error(400, "invalid_api_key", "The provider rejected this API key.")
        record = {
            "provider": provider,
            "hint": f"…{key[-4:]}",
            "is_valid": True,
            "created_at": _now(),
            "last_used_at": None,
        }
        self.credentials[(request.match_info["user_id"], provider)] = record
        return web.json_response(record)

    async def _delete_credential(self, request: web.Request) -> web.Response:
        key = (request.match_info["user_id"], request.match_info["provider"])
        if self.credentials.pop(key, None) is None:
            return _error(404, "not_found", "No key stored for this provider.")
        return web.Response(status=204)

    async def _verify_credential(self, request: web.Request) -> web.Response:
        key = (request.match_info["user_id"], request.match_info["provider"])
        if key not in self.credentials:
            return _error(404, "not_found", "No key stored for this provider.")
        valid = bool(self.credentials[key]["is_valid"])
        return web.json_response(
            {"provider": key[1], "valid": valid, "message": "The key works." if valid else "Rejected."}
        )

    async def _delete_memories(self, request: web.Request) -> web.Response:
        user = request.match_info["user_id"]
        slug = request.query.get("personality")
        keys = [k for k in self.memories if k[0] == user and (slug is None or k[1] == slug)]
        return web.json_response({"deleted": sum(self.memories.pop(k) for k in keys)})

    # -- relationship profiles -----------------------------------------------------------------------

    def _profile_target(
        self, request: web.Request, *, for_writing: bool
    ) -> tuple[str, str, web.Response | None]:
        """(user id, slug, the error answer if any), in the real API's order of checks."""
        user, slug = request.match_info["user_id"], request.match_info["slug"]
        if not (user.isdigit() and len(user) <= 20):
            return user, slug, _invalid({"user_id": ["A Discord id is a string of digits."]})
        if self._find(slug) is None:
            if for_writing:
                return (
                    user,
                    slug,
                    _error(
                        404, "not_found", f"There is no active personality called '{slug}'.", personality=slug
                    ),
                )
            return (
                user,
                slug,
                _error(404, "not_found", f"There is no personality called '{slug}'.", personality=slug),
            )
        return user, slug, None

    async def _get_profile(self, request: web.Request) -> web.Response:
        user, slug, problem = self._profile_target(request, for_writing=False)
        if problem is not None:
            return problem
        found = self.profiles.get((user, slug))
        if found is None:
            person = self._find(slug) or {}
            shown = person.get("display_name") or person.get("name") or slug
            return _error(
                404, "not_found", f"You have no profile with {shown} yet.", user_id=user, personality=slug
            )
        return web.json_response(found)

    async def _patch_profile(self, request: web.Request) -> web.Response:
        user = request.match_info["user_id"]
        if not (user.isdigit() and len(user) <= 20):
            return _invalid({"user_id": ["A Discord id is a string of digits."]})
        values, errors = _check_profile(request[_BODY])
        if errors:
            return _invalid(errors)
        user, slug, problem = self._profile_target(request, for_writing=True)
        if problem is not None:
            return problem
        now = _now()
        profile = self.profiles.get((user, slug)) or {
            "personality": slug,
            "user_id": user,
            "preferred_name": "",
            "pronouns": "",
            "backstory": "",
            "notable_facts": [],
            "created_at": now,
        }
        profile.update(values, updated_at=now)
        self.profiles[(user, slug)] = profile
        return web.json_response(profile)

    async def _delete_profile(self, request: web.Request) -> web.Response:
        user, slug, problem = self._profile_target(request, for_writing=False)
        if problem is not None:
            return problem
        if self.profiles.pop((user, slug), None) is None:
            return _error(404, "not_found", "There was no such profile.", user_id=user, personality=slug)
        return web.Response(status=204)


# The real API's fields and limits (personalities_app: ProfileInputSerializer and validators).
PROFILE_FIELDS = ("preferred_name", "pronouns", "backstory", "notable_facts")
PROFILE_LIMITS = {"preferred_name": 80, "pronouns": 40, "backstory": 4000}
MAX_FACTS = 30
MAX_FACT_CHARS = 300
ONE_LINE = {"preferred_name": "A name is one line.", "pronouns": "Pronouns are one line."}


def _first_message(detail: Any) -> str:
    # As gateway.errors words a serializer's errors: "field: message", nested for list items.
    if isinstance(detail, dict):
        for name, value in detail.items():
            text = _first_message(value)
            return text if name == "non_field_errors" else f"{name}: {text}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def _invalid(fields: dict[str, Any]) -> web.Response:
    return _error(400, "invalid_request", _first_message(fields), fields=fields)


def _check_text(value: Any, *, limit: int, trim: bool = True) -> tuple[str, str | None]:
    if value is None:
        return "", "This field may not be null."
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return "", "Not a valid string."
    text = str(value).strip() if trim else str(value)
    if len(text) > limit:
        return "", f"Ensure this field has no more than {limit} characters."
    return text, None


def _check_profile(body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A partial profile body checked and normalised like the real API: (values, errors by field)."""
    if not isinstance(body, dict):
        kind = "list" if isinstance(body, list) else type(body).__name__
        return {}, {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]}
    unknown = sorted(set(body) - {*PROFILE_LIMITS, "notable_facts"})
    if unknown:
        fields = ", ".join(PROFILE_FIELDS)
        return {}, {name: [f"Not a profile field (the fields are {fields})."] for name in unknown}
    values: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    for name, limit in PROFILE_LIMITS.items():
        if name not in body:
            continue
        text, problem = _check_text(body[name], limit=limit, trim=name != "backstory")
        if problem is None and name in ONE_LINE and "\n" in text:
            problem = ONE_LINE[name]
        if problem is not None:
            errors[name] = [problem]
        else:
            values[name] = text.strip() if name == "backstory" else " ".join(text.split())
    if "notable_facts" in body:
        facts = body["notable_facts"]
        if facts is None:
            errors["notable_facts"] = ["This field may not be null."]
        elif not isinstance(facts, list):
            errors["notable_facts"] = [f'Expected a list of items but got type "{type(facts).__name__}".']
        else:
            problems: dict[str, list[str]] = {}
            kept: list[str] = []
            for index, fact in enumerate(facts):
                text, problem = _check_text(fact, limit=MAX_FACT_CHARS)
                if problem is None and not text:
                    problem = "This field may not be blank."
                if problem is not None:
                    problems[str(index)] = [problem]
                    continue
                text = " ".join(text.split())
                if text.casefold() not in {k.casefold() for k in kept}:
                    kept.append(text)
            # DRF checks the items first, then the length of the list.
            if problems:
                errors["notable_facts"] = problems
            elif len(facts) > MAX_FACTS:
                errors["notable_facts"] = [f"Ensure this field has no more than {MAX_FACTS} elements."]
            else:
                values["notable_facts"] = kept
    if not values and not errors:
        errors["non_field_errors"] = [f"Give at least one of: {', '.join(PROFILE_FIELDS)}."]
    return values, errors


def _check_generate(body: Any) -> str | None:
    """The contract's validation of ``POST /ai/generate``: a message naming the first bad field."""
    if not isinstance(body, dict):
        return "body: must be an object"
    if not isinstance(body.get("personality"), str) or not body["personality"]:
        return "personality: required"
    message = body.get("message")
    if not isinstance(message, str) or not 1 <= len(message) <= 8000:
        return "message: 1 to 8000 characters"
    if "model" in body and body["model"] is not None and not isinstance(body["model"], str):
        return "model: must be a string or null"
    context = body.get("context")
    if not isinstance(context, dict):
        return "context: must be an object"
    for name in ("user_id", "channel_id", "message_id"):
        if not (isinstance(context.get(name), str) and context[name].isdigit()):
            return f"context.{name}: a string of digits"
    for name in ("guild_id", "thread_id"):
        value = context.get(name)
        if value is not None and not (isinstance(value, str) and value.isdigit()):
            return f"context.{name}: a string of digits or null"
    if not isinstance(context.get("user_name"), str):
        return "context.user_name: required"
    reference = context.get("referenced_message")
    if reference is not None and not (
        isinstance(reference, dict) and {"author", "content", "is_personality"} <= reference.keys()
    ):
        return "context.referenced_message: author, content, is_personality"
    history = context.get("history", [])
    if not isinstance(history, list) or any(
        not isinstance(item, dict) or {"author", "content", "is_personality"} - item.keys()
        for item in history
    ):
        return "context.history: items need author, content, is_personality"
    attachments = context.get("attachments", [])
    if not isinstance(attachments, list) or any(
        not isinstance(item, dict) or {"url", "content_type", "filename"} - item.keys()
        for item in attachments
    ):
        return "context.attachments: items need url, content_type, filename"
    return None
