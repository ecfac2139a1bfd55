"""Text embeddings: `get_embedder(name, settings).embed(texts) -> float32[n, d]`, L2-normalised.

Backends, one module each, registered by name with `@register("name")` (`base.py`):
- `minilm` (default): all-MiniLM-L6-v2 through sentence-transformers, offline (`minilm.py`);
- `wordllama`: WordLlama's bundled weights, fast, 256 dims, no torch (`wordllama.py`);
- `litellm:<model>`: a remote embedding model through litellm, `<model>` may be a tier name
  (`litellm.py`).
Importing a backend module loads nothing heavy; its model is loaded on first use.

A model is loaded once per process (module-level cache keyed by name) and shared by every
embedder of that name, including its LRU cache of (model, text) -> vector.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from lakehouse.common.progress import Progress
from lakehouse.config import Settings, get_settings
from lakehouse.search.embed import litellm as _litellm  # noqa: F401 (registers the backend)
from lakehouse.search.embed import minilm as _minilm  # noqa: F401 (registers the backend)
from lakehouse.search.embed import wordllama as _wordllama  # noqa: F401 (registers the backend)
from lakehouse.search.embed.base import Backend, Embedder, create_backend, names, normalise, register
from lakehouse.search.errors import EmbedderError, EmbedInputError, UnknownEmbedder

__all__ = [
    "BACKENDS",
    "Backend",
    "CachedEmbedder",
    "Embedder",
    "EmbedderError",
    "UnknownEmbedder",
    "get_embedder",
    "load_notice",
    "normalise",
    "register",
]

BACKENDS = tuple(names())  # ("minilm", "wordllama", "litellm:<model>")

_backends: dict[str, Backend] = {}
_embedders: dict[tuple, CachedEmbedder] = {}
_load_lock = threading.Lock()
_load_notices: list[Callable[[str], None]] = []


@contextmanager
def load_notice(notice: Callable[[str], None]) -> Iterator[None]:
    """While inside, `notice(name)` runs just before this process loads model `name` (once per
    process): a command can say why the next seconds are quiet, and only when they are."""
    _load_notices.append(notice)
    try:
        yield
    finally:
        _load_notices.remove(notice)


def _load_backend(name: str, settings: Settings) -> Backend:
    with _load_lock:  # loading twice in parallel would hold two copies of the model
        backend = _backends.get(name)
        if backend is None:
            for notice in list(_load_notices):
                notice(name)
            backend = _backends[name] = create_backend(name, settings)
        return backend


class CachedEmbedder:
    """Batches texts through a backend and keeps an LRU cache of (model, text) -> vector."""

    def __init__(self, name: str, backend: Backend, cache_size: int, batch_size: int) -> None:
        self.name = name
        self.backend = backend
        self.cache_size = max(0, cache_size)
        self.batch_size = max(1, batch_size)
        self._cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def dims(self) -> int:
        return int(self.backend.dims)

    def _lookup(self, texts: Sequence[str]) -> tuple[dict[str, np.ndarray], list[str]]:
        found: dict[str, np.ndarray] = {}
        missing: dict[str, None] = {}  # ordered set: each distinct text is embedded once
        with self._lock:
            for text in texts:
                vector = self._cache.get((self.name, text))
                if vector is not None:
                    self._cache.move_to_end((self.name, text))
                    found[text] = vector
                    self.hits += 1
                elif text not in found:
                    missing[text] = None
                    self.misses += 1
        return found, list(missing)

    def _remember(self, texts: list[str], vectors: np.ndarray) -> None:
        if not self.cache_size:
            return
        with self._lock:
            for text, vector in zip(texts, vectors, strict=False):
                self._cache[(self.name, text)] = vector
                self._cache.move_to_end((self.name, text))
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Vectors for `texts`; `progress("embedding", done, total)` counts the texts not cached."""
        if isinstance(texts, str):
            raise EmbedInputError("embed() takes a list of texts, not one string; wrap it: embed([text])")
        for position, text in enumerate(texts):
            if not isinstance(text, str):
                raise EmbedInputError(f"text {position} is {type(text).__name__}, expected str")
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        found, missing = self._lookup(texts)
        if progress:
            progress("embedding", 0, len(missing))
        for start in range(0, len(missing), self.batch_size):
            batch = missing[start : start + self.batch_size]
            vectors = normalise(self.backend.encode(batch))
            found.update(zip(batch, vectors, strict=False))
            self._remember(batch, vectors)
            if progress:
                progress("embedding", min(start + self.batch_size, len(missing)), len(missing))
        return np.stack([found[text] for text in texts]).astype(np.float32, copy=False)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


def get_embedder(name: str | None = None, settings: Settings | None = None) -> CachedEmbedder:
    """The process-wide embedder for `name` (default `Settings.embed_model`), loading it on first use."""
    settings = settings or get_settings()
    name = (name or settings.embed_model).strip()
    key = (name, settings.embed_cache_size, settings.embed_batch_size)
    embedder = _embedders.get(key)
    if embedder is None:
        backend = _load_backend(name, settings)
        with _load_lock:
            embedder = _embedders.setdefault(
                key, CachedEmbedder(name, backend, settings.embed_cache_size, settings.embed_batch_size)
            )
    return embedder
