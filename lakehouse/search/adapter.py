"""A learned query adapter: what `lakehouse adapt` trains from recorded (query, answer) pairs.

Two parts, both applied at search time without re-embedding the corpus:
- `W` (d x d): every query vector is mapped to `normalize(q @ W)` before the index is searched;
- prototypes: for the corpus rows that were recorded as answers, a moved vector
  (`normalize(d + P_d)`) that replaces the row's own vector when scoring. The HNSW index still holds
  the original vectors, so `LoadedCorpus.search` scores the hits that are adapted rows with `score`
  and lets the best adapted rows (`extra`) join the candidates even when the index walk missed them.

An adapter may also hold a learned reranker of its corpus's best hits
(`lakehouse.search.rerank.Reranker`), trained with it.

Stored as one `np.savez` blob (no pickle): `W`, `ids` (a JSON list, `stored_strings`), `vectors`,
`meta` (JSON text), and the reranker's `rerank_*` arrays when it has one. numpy only: training lives in
`lakehouse.learning.adapter_training` (torch), loading must stay cheap.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lakehouse.search.embed.base import normalise
from lakehouse.search.errors import AdapterError
from lakehouse.search.rerank import Reranker
from lakehouse.search.stored_strings import pack_strings, unpack_strings

__all__ = ["Adapter", "AdapterError"]


@dataclass
class Adapter:
    W: np.ndarray
    ids: list[str] = field(default_factory=list)
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    meta: dict[str, Any] = field(default_factory=dict)
    reranker: Reranker | None = None

    def __post_init__(self) -> None:
        self.W = np.asarray(self.W, dtype=np.float32)
        self.ids = [str(i) for i in self.ids]
        dims = self.W.shape[0] if self.W.ndim == 2 else -1
        if self.W.ndim != 2 or self.W.shape[0] != self.W.shape[1]:
            raise AdapterError(f"adapter: W must be a square matrix, got shape {self.W.shape}")
        vectors = np.asarray(self.vectors, dtype=np.float32)
        if vectors.size == 0:
            vectors = np.zeros((0, dims), np.float32)
        if vectors.ndim != 2 or vectors.shape != (len(self.ids), dims):
            raise AdapterError(
                f"adapter: {len(self.ids)} adapted ids need a ({len(self.ids)}, {dims}) vector matrix, "
                f"got shape {vectors.shape}"
            )
        if len(set(self.ids)) != len(self.ids):
            raise AdapterError("adapter: the adapted ids must be distinct")
        if not (np.isfinite(self.W).all() and np.isfinite(vectors).all()):
            raise AdapterError("adapter: W or the adapted vectors hold non-finite values")
        self.vectors = vectors
        self._position = {row_id: i for i, row_id in enumerate(self.ids)}

    @property
    def dims(self) -> int:
        return int(self.W.shape[0])

    # bytes -------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        arrays: dict[str, Any] = {
            "W": self.W,
            "ids": pack_strings(self.ids),
            "vectors": self.vectors,
            "meta": np.array(json.dumps(self.meta, sort_keys=True, ensure_ascii=False)),
            **(self.reranker.arrays() if self.reranker is not None else {}),
        }
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Adapter:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as blob:
                missing = {"W", "ids", "vectors", "meta"} - set(blob.files)
                if missing:
                    raise AdapterError(f"unreadable adapter: missing {', '.join(sorted(missing))}")
                W, ids, vectors, meta_text = blob["W"], unpack_strings(blob["ids"]), blob["vectors"], str(blob["meta"])
                meta = _meta(meta_text)
                reranker = Reranker.from_arrays(blob)
        except AdapterError:
            raise
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
            if "allow_pickle" in str(exc):  # numpy's advice to load pickles is no advice here
                raise AdapterError("unreadable adapter (the file is damaged or is no adapter)") from None
            raise AdapterError(f"unreadable adapter ({type(exc).__name__}: {exc})") from None
        return cls(W, ids, vectors, meta, reranker)

    def voting_at(self, weight: float) -> Adapter:
        """The same map and moved rows (arrays shared, nothing copied) with another playbook vote
        weight: how a generation whose weight was chosen on a long history searches a short one."""
        return Adapter(self.W, self.ids, self.vectors, {**self.meta, "vote_weight": weight}, self.reranker)

    # applying ----------------------------------------------------------------------------
    def adapt_query(self, vectors: np.ndarray) -> np.ndarray:
        """`normalize(q @ W)` for each row."""
        return normalise(np.atleast_2d(np.asarray(vectors, dtype=np.float32)) @ self.W)

    def has(self, row_id: str) -> bool:
        return row_id in self._position

    def score(self, q_adapted: np.ndarray, row_id: str) -> float | None:
        """Cosine of one adapted query with an adapted row's moved vector; None if not adapted."""
        position = self._position.get(row_id)
        if position is None:
            return None
        return float(self.vectors[position] @ np.asarray(q_adapted, dtype=np.float32).reshape(-1))

    def extra(self, q_adapted: np.ndarray, k: int, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """The `k` adapted rows nearest to the adapted query, as (id, score), best first."""
        if not self.ids or k <= 0:
            return []
        scores = self.vectors @ np.asarray(q_adapted, dtype=np.float32).reshape(-1)
        order = np.argsort(-scores, kind="stable")
        found = []
        for position in order:
            row_id = self.ids[int(position)]
            if allowed is not None and row_id not in allowed:
                continue
            found.append((row_id, float(scores[position])))
            if len(found) == k:
                break
        return found


def _meta(text: str) -> dict[str, Any]:
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AdapterError(f"unreadable adapter: meta is not JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise AdapterError("unreadable adapter: meta must be a JSON object")
    return meta
