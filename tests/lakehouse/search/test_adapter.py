"""The adapter value type: bytes round trip, clear errors on bad bytes, and how it rescores."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lakehouse.search.adapter import Adapter, AdapterError
from lakehouse.search.vectors.index import HnswParams, VectorIndex
from lakehouse.search.vectors.loaded import LoadedCorpus

finite = st.floats(-4, 4, allow_nan=False, allow_infinity=False, width=32)
meta_values = st.one_of(st.integers(-1000, 1000), st.text(max_size=12), st.booleans(), st.none())


@st.composite
def adapters(draw) -> Adapter:
    dims = draw(st.integers(1, 6))
    ids = draw(st.lists(st.text(min_size=1, max_size=10), max_size=5, unique=True))
    W = draw(arrays(np.float32, (dims, dims), elements=finite))
    vectors = draw(arrays(np.float32, (len(ids), dims), elements=finite))
    meta = draw(st.dictionaries(st.text(max_size=8), meta_values, max_size=4))
    return Adapter(W, ids, vectors, meta)


@settings(max_examples=60, deadline=None)
@given(adapter=adapters())
def test_bytes_round_trip(adapter):
    back = Adapter.from_bytes(adapter.to_bytes())
    assert back.W.dtype == np.float32 and np.array_equal(back.W, adapter.W)
    assert back.ids == adapter.ids
    assert back.vectors.shape == (len(adapter.ids), adapter.dims) and np.array_equal(back.vectors, adapter.vectors)
    assert back.meta == json.loads(json.dumps(adapter.meta))


@settings(max_examples=30, deadline=None)
@given(adapter=adapters(), weight=st.floats(0, 5))
def test_voting_at_another_weight_shares_the_learning_and_leaves_the_original(adapter, weight):
    before = dict(adapter.meta)
    other = adapter.voting_at(weight)
    assert other.meta == {**before, "vote_weight": weight} and adapter.meta == before
    assert other.W is adapter.W and other.ids == adapter.ids  # nothing copied
    assert np.array_equal(other.vectors, adapter.vectors)
    assert adapter.vectors.size == 0 or other.vectors is adapter.vectors


@pytest.mark.parametrize(
    "data",
    [b"", b"not an npz at all", b"PK\x03\x04 truncated zip"],
)
def test_corrupt_bytes_raise_a_clear_error(data):
    with pytest.raises(AdapterError, match="unreadable adapter"):
        Adapter.from_bytes(data)


def test_a_truncated_blob_or_one_missing_parts_is_refused():
    good = Adapter(np.eye(3, dtype=np.float32), ["a"], np.ones((1, 3), np.float32), {"k": 1}).to_bytes()
    with pytest.raises(AdapterError, match="unreadable adapter"):
        Adapter.from_bytes(good[: len(good) // 2])
    import io

    buffer = io.BytesIO()
    np.savez(buffer, W=np.eye(2, dtype=np.float32))
    with pytest.raises(AdapterError, match="missing ids, meta, vectors"):
        Adapter.from_bytes(buffer.getvalue())


def test_shapes_that_do_not_fit_are_refused():
    with pytest.raises(AdapterError, match="W must be a square matrix"):
        Adapter(np.ones((2, 3), np.float32))
    with pytest.raises(AdapterError, match=r"2 adapted ids need a \(2, 3\) vector matrix"):
        Adapter(np.eye(3), ["a", "b"], np.ones((1, 3)))
    with pytest.raises(AdapterError, match="non-finite"):
        Adapter(np.full((2, 2), np.nan))


def test_adapt_query_score_and_extra():
    # W swaps the two axes; row "b" was moved onto the second axis
    W = np.array([[0, 1], [1, 0]], np.float32)
    adapter = Adapter(W, ["b"], np.array([[0.0, 1.0]], np.float32))
    q = adapter.adapt_query(np.array([[2.0, 0.0]]))
    assert np.allclose(q, [[0.0, 1.0]])
    assert adapter.score(q[0], "b") == pytest.approx(1.0) and adapter.score(q[0], "a") is None
    assert adapter.extra(q[0], 5) == [("b", pytest.approx(1.0))]
    assert adapter.extra(q[0], 5, allowed={"a"}) == []


def test_a_corpus_searched_through_an_adapter_scores_moved_rows_and_finds_those_the_index_missed():
    """The index holds the original vectors; a row the adapter moved next to the query must come
    first even when the raw index walk (k=1) returned another row."""
    rows = np.eye(3, dtype=np.float32)
    index = VectorIndex(3, HnswParams(m=8, ef_construction=50, ef=10, threads=1))
    index.add(rows, [0, 1, 2])
    plain = LoadedCorpus("c", index)
    plain.remember([0, 1, 2], ["a", "b", "c"], ["A", "B", "C"], [{}, {}, {}])
    query = np.array([[0.8, 0.0, 0.6]], np.float32)  # raw: "a" (0.8) is nearer than "c" (0.6)
    assert [h.id for h in plain.search(query, 1)[0]] == ["a"]
    moved = Adapter(np.eye(3, dtype=np.float32), ["c"], query.copy())
    adapted = plain.with_adapter(moved)
    hits = adapted.search(query, 1)[0]  # the index walk alone returns only "a"
    assert [h.id for h in hits] == ["c"] and hits[0].distance == pytest.approx(0.0, abs=1e-6)
    assert adapted.exact_hit("c", query[0]).distance == pytest.approx(0.0, abs=1e-6)
    assert [h.id for h in plain.search(query, 1)[0]] == ["a"]  # the plain copy is untouched


def test_ids_ending_in_a_nul_survive_and_an_older_blobs_unicode_ids_are_still_read():
    """numpy's unicode arrays drop trailing NULs (hypothesis found an id "\\x00" coming back as "")."""
    adapter = Adapter(np.eye(2, dtype=np.float32), ["a\x00", "\x00"], np.ones((2, 2), dtype=np.float32), {})
    assert Adapter.from_bytes(adapter.to_bytes()).ids == ["a\x00", "\x00"]
    older = io.BytesIO()
    np.savez(older, W=adapter.W, ids=np.array(["r1", "r2"]), vectors=adapter.vectors, meta=np.array("{}"))
    assert Adapter.from_bytes(older.getvalue()).ids == ["r1", "r2"]


def test_ids_that_are_not_a_json_list_of_strings_are_refused():
    blob = io.BytesIO()
    W = np.eye(2, dtype=np.float32)
    np.savez(blob, W=W, ids=np.array('[1, "x"]'), vectors=np.ones((2, 2), np.float32), meta=np.array("{}"))
    with pytest.raises(AdapterError, match="unreadable adapter: a stored string list is not a JSON list of strings"):
        Adapter.from_bytes(blob.getvalue())
