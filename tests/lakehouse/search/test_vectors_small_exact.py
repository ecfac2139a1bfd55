"""A whole index of up to EXACT_WHOLE_MAX_ROWS rows is searched exactly: the k nearest by brute
force, the same however the graph was built (several threads build a different graph each time),
scored as hnswlib scores (a query of any length is taken as its direction); a bigger one is walked."""

from __future__ import annotations

import numpy as np
import pytest

import lakehouse.search.vectors.index as index_module
from lakehouse.search.vectors.index import HnswParams, VectorIndex

N, DIMS, K = 2000, 24, 30
PARAMS = HnswParams(m=8, ef_construction=32, ef=16, threads=4)  # a cheap graph: its walk misses rows


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(8)
    return unit(rng.standard_normal((N, DIMS))), rng.standard_normal((40, DIMS)).astype(np.float32) * 3


def _built(rows: np.ndarray) -> VectorIndex:
    index = VectorIndex(DIMS, PARAMS, capacity=len(rows))
    index.add(rows, range(len(rows)))
    return index


def test_a_small_index_returns_the_exact_nearest_rows_with_hnswlib_distances(data):
    rows, queries = data
    labels, distances = _built(rows).search(queries, K)
    similarity = unit(queries) @ rows.T
    expected = np.argsort(-similarity, axis=1, kind="stable")[:, :K]
    assert labels.tolist() == expected.tolist()
    np.testing.assert_allclose(distances, 1 - np.take_along_axis(similarity, expected, axis=1), atol=1e-5)


def test_two_builds_on_several_threads_answer_alike(data):
    rows, queries = data
    first, second = _built(rows).search(queries, K), _built(rows).search(queries, K)
    assert first[0].tolist() == second[0].tolist()


def test_deletes_and_adds_reach_the_exact_search(data):
    rows, queries = data
    index = _built(rows)
    nearest = int(index.search(queries[:1], 1)[0][0, 0])
    index.mark_deleted([nearest])
    assert nearest not in index.search(queries[:1], K)[0][0].tolist()
    index.add(unit(queries[:1]), [N])  # the query itself, as a new row
    labels, distances = index.search(queries[:1], 1)
    assert labels[0, 0] == N and distances[0, 0] == pytest.approx(0.0, abs=1e-5)


def test_a_bigger_index_is_walked(data, monkeypatch):
    rows, queries = data
    monkeypatch.setattr(index_module, "EXACT_WHOLE_MAX_ROWS", N - 1)
    index = _built(rows)
    walked = index.search(queries, K)[0]
    assert walked.tolist() == index._index.knn_query(queries, k=K, num_threads=1)[0].tolist()
