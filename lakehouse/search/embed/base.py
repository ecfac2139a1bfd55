"""What every embedding backend shares: the protocols, the `@register("name")` registry and the
helpers. A leaf of the embed package: backends import it, it imports no backend."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from lakehouse.common.progress import Progress
from lakehouse.config import Settings
from lakehouse.search.errors import BackendDefinitionError, EmbedderError, UnknownEmbedder

__all__ = ["Backend", "Embedder", "REGISTRY", "create_backend", "names", "normalise", "package_dir", "register"]


class Embedder(Protocol):
    name: str

    @property
    def dims(self) -> int: ...

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray: ...


class Backend(Protocol):
    """A loaded model: `encode(texts)` -> one vector per text (normalised by the caller)."""

    @property
    def dims(self) -> int: ...

    def encode(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class Registered:
    name: str
    factory: Callable[..., Any]
    argument: str | None  # e.g. "<model>" for `litellm:<model>`; None: the name takes no argument

    @property
    def usage(self) -> str:
        return f"{self.name}:{self.argument}" if self.argument else self.name


REGISTRY: dict[str, Registered] = {}


def register(name: str, *, argument: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a backend factory under `name`. Called as `factory(settings)`, or as
    `factory(argument, settings)` when the backend takes one (`litellm:ollama/nomic-embed-text`).
    The factory loads the model; nothing heavy may be imported when its module is."""

    def decorate(factory: Callable[..., Any]) -> Callable[..., Any]:
        if name in REGISTRY:
            raise BackendDefinitionError(f"embedding backend {name!r} is registered twice")
        REGISTRY[name] = Registered(name, factory, argument)
        return factory

    return decorate


def names() -> list[str]:
    """How each registered backend is named in settings, plain names first: `minilm`, `wordllama`,
    `litellm:<model>`."""
    return [entry.usage for entry in sorted(REGISTRY.values(), key=lambda e: (e.argument is not None, e.name))]


def create_backend(spec: str, settings: Settings) -> Backend:
    """Load the backend that `spec` (`name` or `name:argument`) names."""
    name, colon, argument = spec.partition(":")
    entry = REGISTRY.get(name)
    if entry is None or (colon and entry.argument is None):
        raise UnknownEmbedder(f"unknown embedding model {spec!r}; choose one of: {', '.join(names())}")
    if entry.argument is None:
        return entry.factory(settings)
    return entry.factory(argument, settings)


def package_dir(package: str) -> Path:
    """Where an installed package's files are (models shipped inside PyPI packages)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderError(f"package {package!r} is not installed; install the project's dependencies")
    return Path(list(spec.submodule_search_locations)[0])


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)
