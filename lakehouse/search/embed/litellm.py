"""`litellm:<model>`: a remote embedding model through litellm (`litellm:ollama/nomic-embed-text`);
`<model>` may also be a tier name from `Settings.models.tiers`."""

from __future__ import annotations

import os

import numpy as np

from lakehouse.config import Settings
from lakehouse.search.embed.base import normalise, register
from lakehouse.search.errors import EmbedderError, UnknownEmbedder


@register("litellm", argument="<model>")
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
