"""`wordllama`: WordLlama's bundled weights (fast, 256 dims, no torch)."""

from __future__ import annotations

import numpy as np

from lakehouse.config import Settings
from lakehouse.search.embed.base import package_dir, register


@register("wordllama")
class WordLlamaBackend:
    def __init__(self, settings: Settings | None = None) -> None:
        from wordllama import WordLlama

        self.model = WordLlama.load(cache_dir=package_dir("wordllama"), disable_download=True)
        self.dims = int(self.model.embed(["dimension probe"]).shape[1])

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.model.embed(texts, norm=True)
