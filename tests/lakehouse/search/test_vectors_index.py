"""VectorIndex: the hnswlib wrapper (growth, filters, deletes, save/load) on real hnswlib, each
test both ways a whole index is searched: exactly (up to EXACT_WHOLE_MAX_ROWS rows) and walked."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lakehouse.search.vectors.index as index_module
from lakehouse.search.vectors.index import HnswParams, VectorIndex

PARAMS = HnswParams(m=16, ef_construction=100, ef=50, threads=1)


@pytest.fixture(autouse=True, params=["exact", "walked"])
def whole_index_search(request, monkeypatch) -> None:
    if request.param == "walked":
        monkeypatch.setattr(index_module, "EXACT_WHOLE_MAX_ROWS", 0)


def unit_vectors(n: int, dims: int = 16, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dims)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_grows_past_its_capacity_and_finds_each_vector_itself():
    data = unit_vectors(300)
    index = VectorIndex(16, PARAMS, capacity=10)
    index.add(data[:150], range(150))
    index.add(data[150:], range(150, 300))
    assert index.count == 300 and index.capacity >= 300
    labels, distances = index.search(data[:20], k=1)
    assert labels[:, 0].tolist() == list(range(20))
    np.testing.assert_allclose(distances[:, 0], 0.0, atol=1e-5)


def test_k_larger_than_the_index_returns_what_exists():
    index = VectorIndex(16, PARAMS)
    assert index.search(unit_vectors(1)[0], k=5)[0].shape == (1, 0)  # empty index
    index.add(unit_vectors(3), [10, 11, 12])
    labels, _ = index.search(unit_vectors(1, seed=9)[0], k=50)
    assert sorted(labels[0].tolist()) == [10, 11, 12]


def test_filter_restricts_the_search_to_allowed_labels():
    data = unit_vectors(400)
    index = VectorIndex(16, PARAMS, capacity=400)
    index.add(data, range(400))
    allowed = set(range(0, 400, 7))
    labels, distances = index.search(data[3], k=10, allowed=allowed)
    assert set(labels[0].tolist()) <= allowed and len(labels[0]) == 10
    exact = sorted(allowed, key=lambda i: 1 - float(data[i] @ data[3]))[:10]
    assert labels[0].tolist() == exact
    assert list(distances[0]) == sorted(distances[0])


def test_filter_with_fewer_allowed_than_k_returns_all_of_them():
    data = unit_vectors(200)
    index = VectorIndex(16, PARAMS, capacity=200)
    index.add(data, range(200))
    labels, _ = index.search(data[0], k=10, allowed={5, 77, 150})
    assert sorted(labels[0].tolist()) == [5, 77, 150]


def test_deleted_labels_never_come_back_until_re_added():
    data = unit_vectors(100)
    index = VectorIndex(16, PARAMS, capacity=100)
    index.add(data, range(100))
    assert index.mark_deleted([4, 5, 999]) == 2  # 999 does not exist
    assert index.mark_deleted([4]) == 0  # already deleted
    assert index.count == 98
    labels, _ = index.search(data[4], k=100)
    assert 4 not in labels[0] and 5 not in labels[0] and len(labels[0]) == 98
    index.add(data[4:5], [4])  # re-adding a label revives it
    assert index.search(data[4], k=1)[0][0, 0] == 4 and index.count == 99


def test_wrong_shape_is_refused_before_anything_is_added():
    index = VectorIndex(16, PARAMS)
    with pytest.raises(ValueError, match=r"expected 2 vectors of 16 dims, got shape \(2, 8\)"):
        index.add(np.zeros((2, 8), np.float32), [1, 2])
    assert index.count == 0


def test_save_load_round_trip_keeps_results_ef_deletes_and_accepts_adds(tmp_path):
    data = unit_vectors(500)
    index = VectorIndex(16, PARAMS, capacity=400)
    index.add(data[:400], range(400))
    index.mark_deleted([1, 2, 3])
    before = index.search(data[:50], k=10)
    path = tmp_path / "index.hnsw"
    index.save(path)
    loaded = VectorIndex.load(path, 16, PARAMS, deleted=[1, 2, 3])
    assert loaded._index.ef == PARAMS.ef  # hnswlib does not store ef: restored from params
    after = loaded.search(data[:50], k=10)
    np.testing.assert_array_equal(before[0], after[0])
    assert loaded.count == 397
    loaded.add(data[400:], range(400, 500))  # capacity was exactly 400 after load: must resize
    assert loaded.count == 497
    assert loaded.search(data[450], k=1)[0][0, 0] == 450


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(min_value=1, max_value=60),
    seed=st.integers(min_value=0, max_value=10_000),
    allowed_fraction=st.floats(min_value=0.0, max_value=1.0),
    k=st.integers(min_value=1, max_value=12),
)
def test_search_property_results_are_live_allowed_and_survive_save_load(tmp_path, n, seed, allowed_fraction, k):
    data = unit_vectors(n, seed=seed)
    index = VectorIndex(16, PARAMS, capacity=max(1, n // 2))
    index.add(data, range(n))
    rng = np.random.default_rng(seed)
    allowed = {i for i in range(n) if rng.random() < allowed_fraction}
    labels, distances = index.search(data[0], k=k, allowed=allowed)
    got = labels[0].tolist()
    assert set(got) <= allowed and len(got) == min(k, len(allowed))
    assert list(distances[0]) == sorted(distances[0])
    path = tmp_path / f"p-{seed}-{n}.hnsw"
    index.save(path)
    again = VectorIndex.load(path, 16, PARAMS).search(data[0], k=k, allowed=allowed)
    assert again[0][0].tolist() == got
