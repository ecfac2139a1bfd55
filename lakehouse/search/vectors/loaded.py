"""A corpus in memory: its HNSW index plus the id, text and metadata of every label, and the
query adapter of its generation (`lakehouse.search.adapter.Adapter`: a map applied to every query
vector, and moved vectors for the rows recorded as answers, which the search scores instead of
the index's own).

A selective metadata filter is answered from the rows, not the search: `prefilter` looks its keys
up in an index of each key's distinct values (built on a key's first use, dropped when rows change)
and, when few rows pass, hands their ids to the search as its allowed set, so the search is exact
over them instead of cutting its nearest 1,000 candidates down to the few that pass."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lakehouse.search.adapter import Adapter
from lakehouse.search.errors import CorpusError
from lakehouse.search.filters import as_list, value_matches
from lakehouse.search.vectors.index import VectorIndex
from lakehouse.search.vectors.manifest import Manifest

ADMITTED_KEPT = 64  # filters whose prefilter answer is kept (each at most EXACT_MAX_ROWS ids)


@dataclass
class RawHit:
    corpus: str
    id: str
    text: str
    distance: float
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        """Cosine similarity (hnswlib's cosine distance is 1 - similarity)."""
        return 1.0 - self.distance


class LoadedCorpus:
    def __init__(
        self,
        name: str,
        index: VectorIndex,
        manifest: Manifest | None = None,
        token: bytes = b"",
        adapter: Adapter | None = None,
    ) -> None:
        self.name = name
        self.index = index
        self.manifest = manifest
        # The stored manifest (its bytes) this copy reflects: when storage holds another one, a
        # process or handle committed a new version and the corpus is loaded again.
        self.token = token
        self.adapter = adapter
        self._rows: dict[int, tuple[str, str, dict[str, Any]]] = {}  # label -> (id, text, metadata)
        self._labels: dict[str, int] = {}  # id -> label
        # Both dropped whenever rows change. metadata key -> {a distinct value (hashable form) ->
        # (the value, labels holding it)}; a filter (as JSON) -> what `prefilter` answered for it.
        self._values: dict[str, dict[Any, tuple[Any, set[int]]]] = {}
        self._admitted: dict[str, tuple[set[str], int] | None] = {}
        self._lock = threading.Lock()

    def sharing(self, manifest: Manifest | None, token: bytes, adapter: Adapter | None) -> LoadedCorpus:
        """Another generation over the same index file, rows and deletions (an adapter change, a
        promote or rollback between such generations): shares this copy's index and row tables
        instead of loading them again. The caller makes sure nothing mutates them afterwards
        for this copy's manifest (see `CorpusManager._unshare`)."""
        other = LoadedCorpus(self.name, self.index, manifest, token, adapter)
        other._rows, other._labels, other._lock = self._rows, self._labels, self._lock
        other._values, other._admitted = self._values, self._admitted
        return other

    @property
    def generation(self) -> int | None:
        return self.manifest.generation if self.manifest is not None else None

    def with_adapter(self, adapter: Adapter | None) -> LoadedCorpus:
        """This corpus searched through another adapter, committing nothing (the lift test and the
        adapt gate measure an adapter this way before any generation is live)."""
        return self.sharing(self.manifest, self.token, adapter)

    def adapt_query(self, vectors: np.ndarray) -> np.ndarray:
        """Query vectors as this generation searches them (`Adapter.adapt_query`: each row times
        W, normalised again); unchanged when there is no adapter."""
        return vectors if self.adapter is None else self.adapter.adapt_query(vectors)

    @property
    def dims(self) -> int:
        return self.index.dims

    @property
    def count(self) -> int:
        return self.index.count

    def remember(
        self, labels: Iterable[int], ids: Sequence[str], texts: Sequence[str], metadata: Sequence[Any]
    ) -> None:
        """Attach rows to labels; metadata items are dicts or JSON object strings."""
        with self._lock:
            for label, row_id, text, meta in zip(labels, ids, texts, metadata, strict=False):
                if isinstance(meta, str):
                    meta = json.loads(meta) if meta else {}
                self._rows[int(label)] = (row_id, text, meta or {})
                self._labels[row_id] = int(label)
            self._values.clear()
            self._admitted.clear()

    def forget(self, ids: Iterable[str]) -> list[int]:
        """Drop ids from the lookup tables; returns their labels (for `mark_deleted`)."""
        with self._lock:
            labels = [self._labels.pop(i) for i in ids if i in self._labels]
            for label in labels:
                self._rows.pop(label, None)
            self._values.clear()
            self._admitted.clear()
            return labels

    def held(self) -> dict[str, tuple[int, str, str]]:
        """Every live row by id: (label, text, metadata as the corpus table stores it: sorted JSON)."""
        with self._lock:
            return {
                row_id: (label, text, json.dumps(meta, ensure_ascii=False, sort_keys=True))
                for label, (row_id, text, meta) in self._rows.items()
            }

    def has(self, row_id: str) -> bool:
        return row_id in self._labels

    def ids(self) -> list[str]:
        return list(self._labels)

    def labels_for(self, ids: Iterable[str]) -> set[int]:
        return {self._labels[i] for i in ids if i in self._labels}

    def prefilter(self, where: Mapping[str, Any], within: set[str] | None = None) -> tuple[set[str], int] | None:
        """(ids, rows left out) of a metadata filter (`lakehouse.search.filters` rules) that admits
        few enough rows (of `within`, when given) for the index to search them exactly; None when it
        admits more: then it is cheaper to filter the search's nearest candidates. Without `within`
        the answer is kept until rows change (a repeated filter costs a lookup): read the ids, do
        not change them."""
        key = json.dumps(where, sort_keys=True, default=str)
        with self._lock:
            if within is None and key in self._admitted:
                return self._admitted[key]
            labels: set[int] | None = None
            for name, wanted in where.items():
                wants = as_list(wanted)
                passing: set[int] = set()
                for value, holders in self._values_of(name).values():
                    if any(value_matches(value, w) for w in wants):
                        passing |= holders
                labels = passing if labels is None else labels & passing
            if labels is None:
                return None  # an empty filter admits everything
            considered = len(self._rows)
            if within is not None:
                within_labels = self.labels_for(within)
                labels &= within_labels
                considered = len(within_labels)
            found = None
            if self.index.exact_is_cheaper(len(labels)):
                found = {self._rows[label][0] for label in labels}, considered - len(labels)
            if within is None:
                self._admitted[key] = found
                while len(self._admitted) > ADMITTED_KEPT:
                    self._admitted.pop(next(iter(self._admitted)))
            return found

    def _values_of(self, key: str) -> dict[Any, tuple[Any, set[int]]]:
        """Under the lock: the distinct values of `key` across the rows, with the labels of each."""
        found = self._values.get(key)
        if found is None:
            found = {}
            for label, (_, _, meta) in self._rows.items():
                if key in meta:
                    for value in as_list(meta[key]):
                        found.setdefault(_hashable(value), (value, set()))[1].add(label)
            self._values[key] = found
        return found

    def _hit(self, label: int, distance: float) -> RawHit:
        row_id, text, meta = self._rows[int(label)]
        return RawHit(self.name, row_id, text, float(distance), dict(meta))

    def search(self, queries: np.ndarray, k: int, allowed_ids: set[str] | None = None) -> list[list[RawHit]]:
        """Nearest `k` rows for each query vector (one list per query row)."""
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if queries.shape[1] != self.dims:
            raise CorpusError(
                f"corpus {self.name!r} holds {self.dims}-dim vectors; the query has {queries.shape[1]} "
                "(was it embedded with another model?)"
            )
        allowed = None if allowed_ids is None else self.labels_for(allowed_ids)
        labels, distances = self.index.search(queries, k, allowed)
        found = [
            [
                self._hit(label, dist)
                for label, dist in zip(row_labels, row_dists, strict=False)
                if int(label) in self._rows
            ]
            for row_labels, row_dists in zip(labels, distances, strict=False)
        ]
        if self.adapter is None or not self.adapter.ids:
            return found
        return [self._with_moved_rows(query, hits, k, allowed_ids) for query, hits in zip(queries, found, strict=True)]

    def _with_moved_rows(self, query: np.ndarray, hits: list[RawHit], k: int, allowed_ids) -> list[RawHit]:
        """The adapter's moved rows score with their moved vectors, and the best of them join the
        candidates even when the index (which holds the original vectors) did not return them."""
        assert self.adapter is not None
        present = {h.id for h in hits}
        for row_id, _ in self.adapter.extra(query, k, allowed_ids):
            if row_id not in present and row_id in self._labels:
                hits.append(self._hit(self._labels[row_id], 0.0))  # its distance is set just below
        for hit in hits:
            score = self.adapter.score(query, hit.id)
            if score is not None:
                hit.distance = 1.0 - score
        return sorted(hits, key=lambda h: (h.distance, h.id))[:k]

    def texts(self, ids: Iterable[str] | None = None) -> dict[str, str]:
        """Every row's text by id, or only these ids' (those the corpus holds)."""
        with self._lock:
            if ids is None:
                return {row_id: text for row_id, text, _ in self._rows.values()}
            return {i: self._rows[self._labels[i]][1] for i in ids if i in self._labels}

    def row_vectors(self, ids: Sequence[str]) -> np.ndarray:
        """The index's (normalised, unadapted) vectors of these rows, in order."""
        return self.index.vectors([self._labels[i] for i in ids])

    def exact_hit(self, row_id: str, query: np.ndarray) -> RawHit | None:
        """The row `row_id` with its true distance to `query`, or None if the corpus lacks it."""
        label = self._labels.get(row_id)
        if label is None:
            return None
        moved = self.adapter.score(query, row_id) if self.adapter is not None else None
        if moved is not None:
            return self._hit(label, 1.0 - moved)
        vector = self.index.vectors([label])[0]
        return self._hit(label, 1.0 - float(np.dot(vector, np.asarray(query, dtype=np.float32))))


def _hashable(value: Any) -> Any:
    """A dict key that tells values apart the way `value_matches` may (True from 1, 1 from "1")."""
    try:
        hash(value)
    except TypeError:
        return ("json", json.dumps(value, sort_keys=True, default=str))
    return (type(value).__name__, value)
