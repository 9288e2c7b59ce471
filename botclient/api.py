"""The bot's only door to the backend: an async HTTP client of the Tzurot REST API.

One ``aiohttp`` session for the bot's lifetime, a service token in every
request, per-request timeouts, and retries with exponential backoff and jitter
for what may heal by itself (connection errors, timeouts, 5xx, 429). Expected
refusals (4xx) are raised at once as ``TzurotApiError`` carrying the API's
readable message; when retries run out, ``BackendUnavailable``.

Request bodies are never logged: some carry a user's API key.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

TERMINAL_STATUSES = frozenset({"succeeded", "failed"})
# What ``PATCH /users/{user_id}/profiles/{slug}`` accepts.
PROFILE_FIELDS = ("preferred_name", "pronouns", "backstory", "notable_facts")


class TzurotApiError(Exception):
    """The API refused a request (4xx); ``message`` is meant for the end user."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


class BackendUnavailable(Exception):
    """The API could not be reached, or kept failing, after every retry."""


@dataclass(frozen=True)
class PersonalityInfo:
    slug: str
    name: str
    display_name: str = ""
    aliases: tuple[str, ...] = ()
    avatar: str = ""
    greeting: str = ""
    error_message: str = ""

    @property
    def shown_name(self) -> str:
        return self.display_name or self.name

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> PersonalityInfo:
        return cls(
            slug=str(data["slug"]),
            name=str(data.get("name") or data["slug"]),
            display_name=str(data.get("display_name") or ""),
            aliases=tuple(str(a) for a in data.get("aliases") or () if str(a).strip()),
            avatar=str(data.get("avatar") or ""),
            greeting=str(data.get("greeting") or ""),
            error_message=str(data.get("error_message") or ""),
        )


@dataclass(frozen=True)
class Job:
    job_id: str
    status: str
    personality: str = ""
    content: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Job:
        result = data.get("result") or {}
        error = data.get("error") or {}
        return cls(
            job_id=str(data["job_id"]),
            status=str(data.get("status") or "queued"),
            personality=str(data.get("personality") or ""),
            content=result.get("content"),
            error_code=error.get("code"),
            error_message=error.get("message"),
            raw=data,
        )


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt n waits ``base * 2**n`` (capped), ±50 %."""

    attempts: int = 4
    base: float = 0.5
    cap: float = 8.0

    def delay(self, retry_number: int, rng: Callable[[], float]) -> float:
        raw = min(self.cap, self.base * (2**retry_number))
        return raw * (0.5 + rng() / 2)


class TzurotApi:
    """Async client of the Tzurot REST API (see the API contract in README/docs).

    ``sleep`` and ``rng`` are injectable so tests control backoff without waiting.
    Use as ``async with TzurotApi(...) as api`` or call ``start()``/``close()``.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 15.0,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        poll_wait: int = 25,
        job_deadline: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng
        self.poll_wait = poll_wait
        self.job_deadline = job_deadline
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:  # never show the token
        return f"<TzurotApi {self.base_url}>"

    async def start(self) -> None:
        if self._session is None or self._session.closed:
            # Many long polls are in flight at once (one per pending reply).
            connector = aiohttp.TCPConnector(limit=512, limit_per_host=0, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"Authorization": f"Bearer {self._token}", "Accept": "application/json"},
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> TzurotApi:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- transport -------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        allow_404: bool = False,
    ) -> Any:
        """The decoded JSON body (None for 204, or for 404 when ``allow_404``)."""
        await self.start()
        assert self._session is not None
        url = self.base_url + path
        per_try = aiohttp.ClientTimeout(
            total=timeout or self.timeout, connect=min(5.0, timeout or self.timeout)
        )
        last_problem = ""
        for attempt in range(self.retry.attempts):
            retry_after: float | None = None
            try:
                async with self._session.request(
                    method, url, json=json, params=params, timeout=per_try
                ) as response:
                    status = response.status
                    if status == 204:
                        return None
                    body = await _read_json(response)
                    if status < 400:
                        return body
                    if status == 404 and allow_404:
                        return None
                    if status == 429 or status >= 500:
                        last_problem = f"HTTP {status}"
                        retry_after = _retry_after(response, body)
                    else:
                        error = (body or {}).get("error", {}) if isinstance(body, dict) else {}
                        raise TzurotApiError(
                            status,
                            str(error.get("code") or f"http_{status}"),
                            str(error.get("message") or f"The service answered {status}."),
                            error.get("details") or {},
                        )
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                last_problem = type(exc).__name__
            if attempt + 1 >= self.retry.attempts:
                break
            delay = self.retry.delay(attempt, self._rng)
            if retry_after is not None:
                delay = max(delay, min(retry_after, self.retry.cap))
            log.warning(
                "Tzurot API %s %s failed (%s); retry %d in %.2f s",
                method,
                path,
                last_problem,
                attempt + 1,
                delay,
            )
            await self._sleep(delay)
        log.error(
            "Tzurot API %s %s failed after %d attempts (%s)", method, path, self.retry.attempts, last_problem
        )
        raise BackendUnavailable(f"{method} {path}: {last_problem}")

    # -- generation ----------------------------------------------------------------------

    async def generate(
        self, *, personality: str, message: str, context: dict[str, Any], model: str | None = None
    ) -> Job:
        body = {"personality": personality, "message": message, "context": context, "model": model}
        return Job.from_api(await self.request("POST", "/ai/generate", json=body))

    async def get_job(self, job_id: str, *, wait: int = 0) -> Job:
        data = await self.request(
            "GET", f"/ai/jobs/{job_id}", params={"wait": wait}, timeout=wait + self.timeout
        )
        return Job.from_api(data)

    async def wait_for_job(self, job: Job) -> Job:
        """Long-poll until the job has finished; ``BackendUnavailable`` past ``job_deadline``."""
        deadline = self._clock() + self.job_deadline
        while not job.finished:
            if self._clock() >= deadline:
                raise BackendUnavailable(f"job {job.job_id} did not finish in {self.job_deadline:.0f} s")
            job = await self.get_job(job.job_id, wait=self.poll_wait)
        return job

    # -- personalities, activation, selection -------------------------------------------------

    async def list_personalities(self) -> list[PersonalityInfo]:
        data = await self.request("GET", "/personalities/")
        return [PersonalityInfo.from_api(item) for item in data or [] if item.get("is_active", True)]

    async def get_personality(self, slug: str) -> PersonalityInfo | None:
        data = await self.request("GET", f"/personalities/{slug}", allow_404=True)
        return PersonalityInfo.from_api(data) if data else None

    async def get_activation(self, channel_id: int | str) -> str | None:
        data = await self.request("GET", f"/channels/{channel_id}/activation", allow_404=True)
        return str(data["personality"]) if data else None

    async def set_activation(
        self, channel_id: int | str, *, personality: str, guild_id: int | str | None, activated_by: int | str
    ) -> None:
        body = {
            "personality": personality,
            "guild_id": str(guild_id) if guild_id is not None else None,
            "activated_by": str(activated_by),
        }
        await self.request("PUT", f"/channels/{channel_id}/activation", json=body)

    async def delete_activation(self, channel_id: int | str) -> bool:
        """False when no personality was active there."""
        return await self._delete(f"/channels/{channel_id}/activation")

    async def _delete(self, path: str) -> bool:
        """``DELETE path``; False when there was nothing to delete (404)."""
        try:
            await self.request("DELETE", path)
        except TzurotApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def get_selection(self, user_id: int | str, *, channel_id: int | str | None = None) -> str | None:
        params = {"channel_id": str(channel_id)} if channel_id is not None else None
        data = await self.request("GET", f"/users/{user_id}/selection", params=params, allow_404=True)
        return str(data["personality"]) if data else None

    async def set_selection(
        self, user_id: int | str, *, personality: str, channel_id: int | str | None = None
    ) -> None:
        body = {"personality": personality, "channel_id": str(channel_id) if channel_id is not None else None}
        await self.request("PUT", f"/users/{user_id}/selection", json=body)

    # -- credentials and memories ---------------------------------------------------------------

    async def set_credential(
        self, user_id: int | str, provider: str, *, api_key: str, base_url: str | None = None
    ) -> dict[str, Any]:
        body = {"api_key": api_key, "base_url": base_url, "verify": True}
        return await self.request("PUT", f"/users/{user_id}/credentials/{provider}", json=body)

    async def delete_credential(self, user_id: int | str, provider: str) -> bool:
        return await self._delete(f"/users/{user_id}/credentials/{provider}")

    async def list_credentials(self, user_id: int | str) -> list[dict[str, Any]]:
        return list(await self.request("GET", f"/users/{user_id}/credentials/") or [])

    async def verify_credential(self, user_id: int | str, provider: str) -> dict[str, Any]:
        return await self.request("POST", f"/users/{user_id}/credentials/{provider}/verify")

    async def delete_memories(self, user_id: int | str, *, personality: str) -> int:
        data = await self.request("DELETE", f"/users/{user_id}/memories", params={"personality": personality})
        return int((data or {}).get("deleted", 0))

    # -- relationship profiles ---------------------------------------------------------------------

    async def get_profile(self, user_id: int | str, *, personality: str) -> dict[str, Any] | None:
        """The user's profile with a personality, or None when they have none."""
        return await self.request("GET", f"/users/{user_id}/profiles/{personality}", allow_404=True)

    async def patch_profile(self, user_id: int | str, *, personality: str, **fields: Any) -> dict[str, Any]:
        """Change only the given fields (created if missing); the profile as it is now."""
        unknown = set(fields) - set(PROFILE_FIELDS)
        if unknown:  # a typo in the bot's own code: fail here, before any request
            raise TypeError(f"unknown profile fields: {sorted(unknown)}")
        return await self.request("PATCH", f"/users/{user_id}/profiles/{personality}", json=fields)

    async def delete_profile(self, user_id: int | str, *, personality: str) -> bool:
        """False when there was no profile."""
        return await self._delete(f"/users/{user_id}/profiles/{personality}")


async def _read_json(response: aiohttp.ClientResponse) -> Any:
    try:
        return await response.json(content_type=None)
    except ValueError:
        return None


def _retry_after(response: aiohttp.ClientResponse, body: Any) -> float | None:
    header = response.headers.get("Retry-After")
    if header:
        try:
            return float(header)
        except ValueError:
            pass
    if isinstance(body, dict):
        value = body.get("error", {}).get("details", {}).get("retry_after")
        if isinstance(value, int | float):
            return float(value)
    return None
