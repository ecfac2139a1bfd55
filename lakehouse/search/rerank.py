"""A learned reranker over one corpus's best candidates, trained by `lakehouse adapt` beside the query
adapter (`lakehouse.learning.rerank_training`) and stored in the adapter's blob.

Why: once the adapter and the playbook vote are tuned, what still separates the right occupation
from its neighbours for a new job title is lexical: the title's words and word pieces in the row's
title and description, which a sentence embedding blurs. A small MLP over the scores the search
already has plus the char n-gram TF-IDF similarity of the query to the row's first line (its title)
and to its whole text lifted recall@1 by about 0.01 on new alternate titles, where a fixed-weight
fusion of the same signals did not (BENCHMARKS.md, "A learned reranker").

At search time (`MatrixSearcher`) a corpus whose adapter holds a reranker reorders its best `top`
hits after the playbook vote. The reordered hits take the scores of the original order (the best
hit keeps the best score), so results merged across corpora still compare cosines. A query the
playbooks remember verbatim keeps the playbooks' order: memory is not the reranker's to undo.

Stored as arrays (no pickle): the n-gram vocabulary and IDF (fitted on the corpus's text only, never
on recorded queries), the feature scaler and the MLP's layers. numpy here; scikit-learn's TF-IDF
analyzer is imported on first use.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lakehouse.search.errors import AdapterError
from lakehouse.search.stored_strings import pack_strings, unpack_strings

FEATURES = (
    "adapted cosine",
    "cold cosine",
    "rank",
    "gap to the best",
    "playbook vote share",
    "times recorded (log)",
    "char n-gram similarity to the first line",
    "char n-gram similarity to the text",
)
TOP = 30  # the candidates reordered: they hold the right row for ~86 % of new titles
NGRAM_RANGE = (2, 4)
ROW_CACHE = 65_536  # rows whose n-gram vectors are kept between searches


def head(text: str) -> str:
    """A row's first line: its title when the corpus's first text column is one."""
    return text.split("\n", 1)[0]


class Lexicon:
    """Char n-gram TF-IDF (word-bounded 2-4-grams, sublinear tf, L2-normalised), as scikit-learn's
    `TfidfVectorizer` computes it, over a fixed vocabulary and IDF. Vectors are built from the
    vectorizer's own analyzer: its `transform` costs milliseconds of input checks per call, and a
    search asks for one query and a few rows at a time."""

    def __init__(self, vocabulary: Sequence[str], idf: np.ndarray) -> None:
        self.vocabulary = [str(g) for g in vocabulary]
        self.idf = np.asarray(idf, dtype=np.float64)
        if self.idf.shape != (len(self.vocabulary),) or not np.isfinite(self.idf).all():
            raise AdapterError(
                f"reranker: {len(self.vocabulary)} n-grams need as many finite IDF values, got shape {self.idf.shape}"
            )
        self._position = {gram: i for i, gram in enumerate(self.vocabulary)}
        self._analyzer: Callable[[str], list[str]] | None = None
        self._rows: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _make(**options: Any) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer

        return TfidfVectorizer(
            analyzer="char_wb", ngram_range=NGRAM_RANGE, sublinear_tf=True, lowercase=True, dtype=np.float64, **options
        )

    @classmethod
    def fit(cls, texts: Sequence[str], max_ngrams: int = 200_000) -> Lexicon:
        vectorizer = cls._make(max_features=max_ngrams)
        vectorizer.fit(list(texts))
        vocabulary = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
        return cls(vocabulary, vectorizer.idf_)

    def vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(n-gram positions, L2-normalised weights) of one text."""
        if self._analyzer is None:
            self._analyzer = self._make().build_analyzer()
        counts = Counter(g for g in self._analyzer(text) if g in self._position)
        if not counts:
            return np.zeros(0, np.int64), np.zeros(0)
        positions = np.fromiter((self._position[g] for g in counts), np.int64, len(counts))
        weights = (1.0 + np.log(np.fromiter(counts.values(), np.float64, len(counts)))) * self.idf[positions]
        return positions, weights / np.linalg.norm(weights)

    def similarities(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """Cosine of the query's TF-IDF vector with each text's."""
        positions, weights = self.vector(query)
        dense = np.zeros(len(self.vocabulary))
        dense[positions] = weights
        return np.array([float(values @ dense[indices]) for indices, values in self._row_vectors(list(texts))])

    def _row_vectors(self, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        found = []
        for text in texts:
            with self._lock:
                vector = self._rows.get(text)
            if vector is None:
                vector = self.vector(text)
                with self._lock:
                    self._rows[text] = vector
                    while len(self._rows) > ROW_CACHE:
                        self._rows.popitem(last=False)
            found.append(vector)
        return found


@dataclass
class Candidate:
    """One corpus hit as the reranker sees it (the search's and the trainer's common ground)."""

    id: str
    text: str
    adapted: float  # cosine of the adapted query with the (moved) row
    score: float  # after the playbook vote
    vote: float  # the vote's share for this row, before its weight
    memory: float

    @classmethod
    def of(cls, hit: Any, vote: float, memory: float) -> Candidate:
        """A searched hit (`lakehouse.search.matrix.Hit`) with its row's vote share and memory: the
        one place search and training build candidates, so both read the same scores."""
        adapted = hit.raw_score if hit.raw_score is not None else hit.score
        return cls(hit.id, hit.text, adapted, hit.score, vote, memory)


def features(
    lexicon: Lexicon,
    recorded: dict[str, int],
    query: str,
    query_vector: np.ndarray,
    candidates: Sequence[Candidate],
    row_vectors: Callable[[list[str]], np.ndarray],
) -> np.ndarray:
    """(len(candidates), len(FEATURES)) for one query's candidates, best first (by score);
    `row_vectors` gives the rows' unadapted vectors (the cold cosine)."""
    if not candidates:
        return np.zeros((0, len(FEATURES)))
    ids = [c.id for c in candidates]
    cold = np.asarray(row_vectors(ids), np.float64) @ np.asarray(query_vector, np.float64).reshape(-1)
    texts = [c.text for c in candidates]
    best = max(c.score for c in candidates)
    lexical = lexicon.similarities(query, [head(t) for t in texts] + texts)  # one query vector for both
    return np.column_stack(
        [
            [c.adapted for c in candidates],
            cold,
            np.arange(len(candidates), dtype=np.float64),
            [best - c.score for c in candidates],
            [c.vote for c in candidates],
            np.log1p([recorded.get(i, 0) for i in ids]),
            lexical[: len(texts)],
            lexical[len(texts) :],
        ]
    )


@dataclass
class Reranker:
    lexicon: Lexicon
    mean: np.ndarray
    scale: np.ndarray
    layers: list[tuple[np.ndarray, np.ndarray]]  # (weights, bias) per layer; ReLU between, logit out
    recorded: dict[str, int] = field(default_factory=dict)  # row id -> times recorded as an answer
    top: int = TOP

    def __post_init__(self) -> None:
        self.mean = np.asarray(self.mean, np.float64)
        self.scale = np.asarray(self.scale, np.float64)
        width = len(FEATURES)
        if self.mean.shape != (width,) or self.scale.shape != (width,) or not (self.scale > 0).all():
            raise AdapterError(f"reranker: the scaler must hold {width} means and {width} positive scales")
        self.layers = [(np.asarray(w, np.float64), np.asarray(b, np.float64)) for w, b in self.layers]
        for w, b in self.layers:
            if w.ndim != 2 or b.shape != (w.shape[1],) or w.shape[0] != width:
                raise AdapterError(f"reranker: a layer of shape {w.shape} with bias {b.shape} does not chain")
            width = w.shape[1]
        if not self.layers or width != 1:
            raise AdapterError("reranker: the layers must end in one output")

    def logits(self, features: np.ndarray) -> np.ndarray:
        x = (np.asarray(features, np.float64) - self.mean) / self.scale
        for i, (w, b) in enumerate(self.layers):
            x = x @ w + b
            if i < len(self.layers) - 1:
                x = np.maximum(x, 0.0)
        return x.reshape(-1)

    def order(
        self, query: str, query_vector: np.ndarray, candidates: Sequence[Candidate], row_vectors: Callable
    ) -> tuple[list[int], np.ndarray] | None:
        """The new order of the best `top` candidates (positions into them) and their logits; None
        when there is nothing to reorder or the playbooks remember the query."""
        best = list(candidates)[: self.top]
        if len(best) < 2 or any(c.memory != 0 for c in best):
            return None
        logits = self.logits(features(self.lexicon, self.recorded, query, query_vector, best, row_vectors))
        return sorted(range(len(best)), key=lambda i: (-logits[i], i)), logits

    # bytes (inside the adapter's npz) --------------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        out = {
            "rerank_vocabulary": pack_strings(self.lexicon.vocabulary),
            "rerank_idf": self.lexicon.idf,
            "rerank_mean": self.mean,
            "rerank_scale": self.scale,
            "rerank_recorded_ids": pack_strings(list(self.recorded)),
            "rerank_recorded_counts": np.array(list(self.recorded.values()), dtype=np.int64),
            "rerank_top": np.array(self.top),
        }
        for i, (w, b) in enumerate(self.layers):
            out[f"rerank_w{i}"], out[f"rerank_b{i}"] = w, b
        return out

    @classmethod
    def from_arrays(cls, blob: Any) -> Reranker | None:
        """The reranker stored in an adapter's npz, or None when it holds none."""
        if "rerank_mean" not in blob.files:
            return None
        layers: list[tuple[np.ndarray, np.ndarray]] = []
        while f"rerank_w{len(layers)}" in blob.files:
            layers.append((blob[f"rerank_w{len(layers)}"], blob[f"rerank_b{len(layers)}"]))
        ids, counts = unpack_strings(blob["rerank_recorded_ids"]), blob["rerank_recorded_counts"].tolist()
        if len(ids) != len(counts):
            raise AdapterError("reranker: recorded ids and counts differ in length")
        return cls(
            Lexicon(unpack_strings(blob["rerank_vocabulary"]), blob["rerank_idf"]),
            blob["rerank_mean"],
            blob["rerank_scale"],
            layers,
            dict(zip(ids, (int(c) for c in counts), strict=True)),
            int(blob["rerank_top"]),
        )
