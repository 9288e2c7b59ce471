"""The one door to LLM providers: every call to a model goes through here.

All providers are reached through the ``openai`` client against an
OpenAI-compatible endpoint (OpenRouter by default, or the user's own). Failures
become one exception type, ``ProviderError``, whose ``code`` is what the user
is told and whose ``retryable`` says whether another attempt may help:

* 401/403 → ``invalid_api_key``, permanent (the key is wrong; retrying spends nothing but time);
* 429 → ``rate_limited``, retryable, honouring ``Retry-After``;
* 5xx, timeouts, connection errors → retryable (``provider_error`` / ``timeout``);
* other 4xx and malformed answers → ``provider_error``, permanent.

Calls are made with the client's own retries off: the retry policy lives here,
up to ``LLM_MAX_ATTEMPTS`` attempts with exponential backoff and full jitter.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
from django.conf import settings

log = logging.getLogger(__name__)

RETRY_AFTER_CAP = 30.0


@dataclass
class ProviderError(Exception):
    code: str
    message: str
    retryable: bool
    status: int | None = None
    retry_after: float | None = None
    attempts: int = 0

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass
class Completion:
    content: str
    model: str
    usage: dict[str, int] = field(default_factory=dict)
    attempts: int = 1


# Per thread: an HTTP connection pool and the OpenAI clients built on it.
#
# Not one pool per process: httpcore's synchronous pool, on every request it
# starts and ends, walks its connections with work quadratic in their number,
# under one lock. With 200 generations in flight on a worker's 200 threads,
# a shared pool of 200 connections made that walk most of the worker's CPU
# and queued its threads on the lock (halving the jobs it finished per
# second; see BENCHMARKS.md). A thread makes one call at a time, so its own
# pool needs a connection or two.
_local = threading.local()

# Building an OpenAI client costs about 0.2 ms of CPU: each thread keeps one
# per endpoint and key (bounded, because users bring keys of their own).
CLIENT_CACHE_SIZE = 32


_tls_lock = threading.Lock()
_tls: ssl.SSLContext | None = None


def _tls_context() -> ssl.SSLContext:
    """One TLS context (CA certificates loaded once) for every thread's pool.

    httpx would build one per client: about a megabyte and milliseconds each.
    """
    global _tls
    with _tls_lock:
        if _tls is None:
            _tls = httpx.create_ssl_context()  # what httpx.Client() would build
        return _tls


def _http() -> httpx.Client:
    """This thread's connection pool, shared by its provider clients."""
    client: httpx.Client | None = getattr(_local, "http", None)
    if client is None:
        client = _local.http = httpx.Client(
            verify=_tls_context(),
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=4),
            timeout=httpx.Timeout(settings.LLM_TIMEOUT, connect=10.0),
        )
    return client


def client_for(base_url: str, api_key: str, timeout: float | None = None) -> openai.OpenAI:
    clients: dict[tuple[str, str, float], openai.OpenAI] | None = getattr(_local, "clients", None)
    if clients is None:
        clients = _local.clients = {}
    key = (base_url, api_key, timeout or settings.LLM_TIMEOUT)
    client = clients.get(key)
    if client is None:
        if len(clients) >= CLIENT_CACHE_SIZE:
            clients.clear()
        client = clients[key] = openai.OpenAI(
            base_url=base_url, api_key=api_key, max_retries=0, timeout=key[2], http_client=_http()
        )
    return client


def _retry_after(response: httpx.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return min(max(float(value), 0.0), RETRY_AFTER_CAP)
    except ValueError:
        return None


def classify(exc: Exception) -> ProviderError:
    """Turn whatever the client raised into a ``ProviderError``.

    Messages are meant for the end user and never quote the request (which
    carries the key in its headers) or the provider's raw body.
    """
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError("timeout", "The model took too long to answer.", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError("provider_error", "The model's provider could not be reached.", retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status in (401, 403):
            return ProviderError(
                "invalid_api_key",
                "The provider rejected the API key. Update your key (`/tz key set`) and try again.",
                retryable=False,
                status=status,
            )
        if status == 429:
            return ProviderError(
                "rate_limited",
                "The model's provider is rate-limiting requests; try again shortly.",
                retryable=True,
                status=status,
                retry_after=_retry_after(exc.response),
            )
        if status >= 500:
            return ProviderError(
                "provider_error",
                f"The model's provider had an error ({status}).",
                retryable=True,
                status=status,
                retry_after=_retry_after(exc.response),
            )
        return ProviderError(
            "provider_error",
            f"The model's provider refused the request ({status}).",
            retryable=False,
            status=status,
        )
    if isinstance(exc, ValueError | openai.APIResponseValidationError):
        # A body that is not JSON (json.JSONDecodeError is a ValueError) or not a completion.
        return ProviderError(
            "provider_error", "The model's provider sent a malformed answer.", retryable=False
        )
    return ProviderError("provider_error", "The model's provider failed unexpectedly.", retryable=False)


def backoff_delay(attempt: int, retry_after: float | None, base: float) -> float:
    """Seconds to wait before attempt ``attempt + 1``: Retry-After if given, else full jitter."""
    if retry_after is not None:
        return retry_after
    return random.uniform(0, base * (2 ** (attempt - 1)))


def with_retries(
    call: Callable[[], Any],
    *,
    max_attempts: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_attempt: Callable[[int], None] | None = None,
) -> tuple[Any, int]:
    """Run ``call`` until it succeeds, fails permanently, or attempts run out.

    Returns the call's result and the number of attempts made; raises the last
    ``ProviderError`` (with ``.attempts`` set) otherwise.
    """
    attempts = max_attempts or settings.LLM_MAX_ATTEMPTS
    for attempt in range(1, attempts + 1):
        if on_attempt:
            on_attempt(attempt)
        try:
            return call(), attempt
        except Exception as exc:  # classified below; anything unknown is permanent
            error = classify(exc)
            error.attempts = attempt
            if not error.retryable or attempt == attempts:
                raise error from None
            delay = backoff_delay(attempt, error.retry_after, settings.LLM_BACKOFF_BASE)
            log.info("provider attempt %s failed (%s); retrying in %.2f s", attempt, error.code, delay)
            sleep(delay)
    raise AssertionError("unreachable")


def _completion(data: Any, model: str) -> Completion:
    """A chat-completions answer read from its JSON; malformed ones are ``provider_error``."""
    if not isinstance(data, dict):
        raise ValueError("not a completion")  # classified as a malformed answer
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        content = None
    if not isinstance(content, str) or not content.strip():
        raise ProviderError("provider_error", "The model answered with nothing.", retryable=False)
    usage = data.get("usage")
    if not isinstance(usage, dict):
        usage = {}
    answered_by = data.get("model")
    return Completion(
        content=content,
        model=answered_by if isinstance(answered_by, str) and answered_by else model,
        usage={
            name: int(usage.get(name) or 0) for name in ("prompt_tokens", "completion_tokens", "total_tokens")
        },
    )


def chat_complete(
    *,
    base_url: str,
    api_key: str,
    model: str,
    messages: list[dict[str, Any]],
    temperature: float | None = None,
    max_tokens: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_attempt: Callable[[int], None] | None = None,
) -> Completion:
    """One chat completion (``POST {base_url}/chat/completions``), retried as the module says.

    The call goes through the client's request method (``client.post``, the
    client's documented way to any endpoint) rather than the typed
    ``chat.completions.create``: same base URL, key, headers, timeout and
    error types, but the body is the one built here and the answer is read as
    JSON by ``_completion``. The typed method re-validates the parameters and
    builds models of the answer, 1.3 ms more CPU per call against 1.0 ms for
    the whole call this way (BENCHMARKS.md); a worker process is one core of
    Python, so that was over a third of its CPU per job.
    """
    client = client_for(base_url, api_key)
    body: dict[str, Any] = {"model": model, "messages": messages}
    if temperature is not None:
        body["temperature"] = temperature
    if max_tokens is not None:
        body["max_tokens"] = max_tokens

    def call() -> Completion:
        response = client.post("/chat/completions", body=body, cast_to=httpx.Response)
        return _completion(response.json(), model)

    completion, attempts = with_retries(call, sleep=sleep, on_attempt=on_attempt)
    completion.attempts = attempts
    return completion


def transcribe(*, base_url: str, api_key: str, filename: str, data: bytes, content_type: str) -> str:
    """Speech to text through the provider's OpenAI-compatible transcription endpoint."""
    client = client_for(base_url, api_key)

    def call() -> str:
        result = client.audio.transcriptions.create(
            model=settings.TRANSCRIPTION_MODEL, file=(filename, data, content_type)
        )
        text = getattr(result, "text", None)
        if not isinstance(text, str):
            raise ProviderError("provider_error", "The transcription answer was malformed.", retryable=False)
        return text

    text, _ = with_retries(call)
    return text


def fetch_attachment(url: str) -> bytes:
    """Download an attachment (bounded in size and time) for transcription."""
    limit = settings.MAX_ATTACHMENT_BYTES
    with _http().stream("GET", url, timeout=30.0, follow_redirects=True) as response:
        response.raise_for_status()
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise ProviderError(
                    "attachment_too_large",
                    f"An attachment is larger than {limit // 1_000_000} MB.",
                    retryable=False,
                )
            chunks.append(chunk)
    return b"".join(chunks)
