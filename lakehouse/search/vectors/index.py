"""One hnswlib index (cosine space) with the bookkeeping hnswlib leaves to its caller.

hnswlib neither grows on its own, nor remembers `ef` in its file, nor counts deleted labels, and
it raises when asked for more neighbours than it can return; this wrapper handles all four.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import hnswlib
import numpy as np

from lakehouse.search.errors import CorpusError

SPACE = "cosine"
# An allowed set this small (or this small a share of the index) is searched exactly: hnswlib's
# filtered walk visits about ef * M / share nodes, each through a Python callback, so a filter
# admitting 0.4% of 500,000 rows costs ~100 ms, while a matrix product over those rows is exact
# and well under a millisecond once their vectors are gathered (kept for the next query).
EXACT_MAX_ROWS = 20_000
EXACT_MAX_SHARE = 0.05
# A whole index this small is searched exactly too. hnswlib's walk (ef 64) misses a few of the 30
# nearest rows, and which ones depends on the graph, which a build on several threads makes
# differently each time: over the 1,016 O*NET rows 16 of 500 adapted queries got another top 30 from
# a second build, and the lift's adapted recall@1 read 0.424-0.430 on identical vectors. Exact costs
# 0.03 ms a query more than the walk at 1,000 rows, 0.14 ms at 5,000 (BENCHMARKS.md, "vectors").
EXACT_WHOLE_MAX_ROWS = 5_000


@dataclass(frozen=True)
class HnswParams:
    m: int = 16
    ef_construction: int = 200
    ef: int = 64
    threads: int = 0  # 0 = one per core
    seed: int = 100

    @property
    def build_threads(self) -> int:
        return self.threads if self.threads > 0 else (os.cpu_count() or 1)

    def as_dict(self) -> dict:
        return {"space": SPACE, "M": self.m, "ef_construction": self.ef_construction, "ef": self.ef}


class VectorIndex:
    """Labels are non-negative ints chosen by the caller; vectors are float32 rows."""

    def __init__(self, dims: int, params: HnswParams, capacity: int = 1024) -> None:
        self.dims = dims
        self.params = params
        self.deleted: set[int] = set()
        self._index = hnswlib.Index(space=SPACE, dim=dims)
        self._index.init_index(
            max_elements=max(1, capacity),
            ef_construction=params.ef_construction,
            M=params.m,
            random_seed=params.seed,
        )
        self._index.set_ef(params.ef)
        # Mutations (resize, add, delete, save) must not run beside each other or a search.
        self._lock = threading.RLock()
        self._gathered: tuple[frozenset[int], np.ndarray, np.ndarray] | None = None  # last exact set
        self._whole: tuple[np.ndarray, np.ndarray] | None = None  # every live label and its vector

    # reading ---------------------------------------------------------------------------------
    @property
    def count(self) -> int:
        """Live elements: added and not marked deleted."""
        return self._index.element_count - len(self.deleted)

    @property
    def capacity(self) -> int:
        return self._index.max_elements

    def labels(self) -> list[int]:
        return [label for label in self._index.get_ids_list() if label not in self.deleted]

    def vectors(self, labels: Iterable[int]) -> np.ndarray:
        labels = list(labels)
        if not labels:
            return np.zeros((0, self.dims), dtype=np.float32)
        with self._lock:
            return np.asarray(self._index.get_items(labels), dtype=np.float32)

    def set_ef(self, ef: int) -> None:
        with self._lock:
            self._index.set_ef(ef)

    def search(self, queries: np.ndarray, k: int, allowed: set[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(labels, distances), each [n_queries, k'], nearest first; k' = min(k, what exists).

        `allowed` restricts the search through hnswlib's filter callback (an SQL pre-filter's ids).
        """
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        live = self.count if allowed is None else len(allowed - self.deleted)
        k = min(k, live)
        if k <= 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.uint64), empty.astype(np.float32)
        if allowed is None and self.count <= EXACT_WHOLE_MAX_ROWS:
            return self._exact(queries, k, None)
        if allowed is not None and self._exact_is_cheaper(allowed):
            return self._exact(queries, k, allowed)
        with self._lock:
            try:
                if allowed is None:
                    return self._index.knn_query(queries, k=k, num_threads=1)
                return self._index.knn_query(queries, k=k, num_threads=1, filter=allowed.__contains__)
            except RuntimeError:
                # hnswlib gives up when its ef-bounded walk finds fewer than k live, allowed
                # elements (tiny or very selective sets); answer those exactly instead.
                return self._exact(queries, k, allowed)

    def exact_is_cheaper(self, rows: int) -> bool:
        """True when `rows` allowed rows are searched exactly (see EXACT_MAX_ROWS)."""
        return rows <= EXACT_MAX_ROWS and rows <= EXACT_MAX_SHARE * self.count

    def _exact_is_cheaper(self, allowed: set[int]) -> bool:
        gathered = self._gathered  # this very set's vectors are gathered already: exact at any share
        reused = len(allowed) <= EXACT_MAX_ROWS and gathered is not None and gathered[0] == allowed
        return self.exact_is_cheaper(len(allowed)) or reused

    def _exact(self, queries: np.ndarray, k: int, allowed: set[int] | None):
        candidates, vectors = self._gathered_rows(allowed)
        norms = np.linalg.norm(queries, axis=1, keepdims=True)
        queries = queries / np.where(norms > 0, norms, 1)  # as hnswlib's cosine space takes them
        # einsum, not `@`: BLAS would split this small product over threads that spin-wait for a
        # core on a shared machine (1,840 x 256: 0.04 ms on one thread, 0.5 to 7 ms threaded)
        distances = 1.0 - np.einsum("qd,nd->qn", queries, vectors)
        if k < distances.shape[1]:  # the k nearest, then only those sorted; ties by label, as stored
            nearest = np.sort(np.argpartition(distances, k - 1, axis=1)[:, :k], axis=1)
        else:
            nearest = np.broadcast_to(np.arange(distances.shape[1]), distances.shape)
        within = np.argsort(np.take_along_axis(distances, nearest, axis=1), axis=1, kind="stable")
        order = np.take_along_axis(nearest, within, axis=1)
        return candidates[order], np.take_along_axis(distances, order, axis=1).astype(np.float32)

    def _gathered_rows(self, allowed: set[int] | None) -> tuple[np.ndarray, np.ndarray]:
        """The live labels (all, or those allowed), ascending, and their vectors; the last set
        gathered and the whole index are kept until the next write."""
        whole, gathered = self._whole, self._gathered
        if allowed is None and whole is not None:
            return whole
        if allowed is not None and gathered is not None and gathered[0] == allowed:
            return gathered[1], gathered[2]
        with self._lock:
            live = self.labels() if allowed is None else allowed - self.deleted  # labels() are live already
            candidates = np.asarray(sorted(live), dtype=np.uint64)
            vectors = self.vectors(candidates.tolist())
            if allowed is None:
                self._whole = (candidates, vectors)
            else:
                self._gathered = (frozenset(allowed), candidates, vectors)
        return candidates, vectors

    # writing ---------------------------------------------------------------------------------
    def add(self, vectors: np.ndarray, labels: Iterable[int], threads: int | None = None) -> None:
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        labels = np.asarray(list(labels), dtype=np.uint64)
        if vectors.shape != (len(labels), self.dims):
            raise CorpusError(f"expected {len(labels)} vectors of {self.dims} dims, got shape {vectors.shape}")
        if not len(labels):
            return
        with self._lock:
            needed = self._index.element_count + len(labels)
            if needed > self._index.max_elements:
                # After load_index the capacity equals the stored count: grow before adding.
                self._index.resize_index(max(needed, 2 * self._index.max_elements))
            self._index.add_items(vectors, labels, num_threads=threads or self.params.build_threads)
            self.deleted.difference_update(labels.tolist())
            self._gathered = self._whole = None  # a label may have new vectors

    def mark_deleted(self, labels: Iterable[int]) -> int:
        """Hide labels from every search; returns how many were live."""
        with self._lock:
            present = set(self._index.get_ids_list())
            fresh = [label for label in labels if label in present and label not in self.deleted]
            for label in fresh:
                self._index.mark_deleted(label)
            self.deleted.update(fresh)
            if fresh:
                self._gathered = self._whole = None
            return len(fresh)

    # files -----------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        with self._lock:
            self._index.save_index(str(path))

    @classmethod
    def load(cls, path: Path, dims: int, params: HnswParams, deleted: Iterable[int] = ()) -> VectorIndex:
        index = cls.__new__(cls)
        index.dims = dims
        index.params = params
        index._lock = threading.RLock()
        index._index = hnswlib.Index(space=SPACE, dim=dims)
        index._index.load_index(str(path))
        index._index.set_ef(params.ef)  # not stored in the file
        index.deleted = set(deleted)
        index._gathered = index._whole = None
        return index
