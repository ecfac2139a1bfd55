"""A selective allowed set is searched exactly over its gathered vectors, and the gathered copy
never outlives a change to the index."""

from __future__ import annotations

import numpy as np
import pytest

from lakehouse.search.vectors.index import EXACT_MAX_SHARE, HnswParams, VectorIndex

N, DIMS, K = 3000, 24, 5


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture
def world():
    rng = np.random.default_rng(4)
    data = unit(rng.standard_normal((N, DIMS)))
    index = VectorIndex(DIMS, HnswParams(m=8, ef_construction=64, ef=16, threads=1), capacity=N)
    index.add(data, range(N))
    allowed = set(rng.choice(N, 40, replace=False).tolist())  # 1.3%: below EXACT_MAX_SHARE
    return index, data, allowed, unit(rng.standard_normal((20, DIMS)))


def brute(data: np.ndarray, labels: set[int], query: np.ndarray) -> list[int]:
    ordered = np.asarray(sorted(labels))
    return ordered[np.argsort(-(data[ordered] @ query), kind="stable")[:K]].tolist()


def test_a_selective_filter_returns_the_exact_top_k(world):
    index, data, allowed, queries = world
    assert len(allowed) <= EXACT_MAX_SHARE * N
    for query in queries:
        labels, distances = index.search(query, K, allowed)
        assert labels[0].tolist() == brute(data, allowed, query)
        assert np.allclose(distances[0], 1 - data[labels[0].astype(int)] @ query, atol=1e-5)


def test_a_deleted_label_leaves_the_gathered_set(world):
    index, data, allowed, queries = world
    best = int(index.search(queries[0], K, allowed)[0][0][0])
    index.mark_deleted([best])
    labels = index.search(queries[0], K, allowed)[0][0].tolist()
    assert best not in labels and labels == brute(data, allowed - {best}, queries[0])


def test_a_replaced_vector_is_searched_with_its_new_value(world):
    index, data, allowed, queries = world
    index.search(queries[0], K, allowed)  # gathers the allowed vectors
    worst = brute(data, allowed, -queries[0])[0]  # the allowed row farthest from the query
    index.add(queries[0][None, :], [worst])
    assert int(index.search(queries[0], K, allowed)[0][0][0]) == worst
