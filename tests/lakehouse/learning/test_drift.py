"""Drift: scorer drift (G3.5.A, G3.5.B), playbook drift on a real hnswlib index, embedding drift."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import hnswlib
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lakehouse.common.recordfile import InputFileError
from lakehouse.learning.distill import EvidenceRecord, UnknownScorerError
from lakehouse.learning.drift import (
    PlaybookEntry,
    embedding_drift,
    load_vectors,
    playbook_drift,
    scorer_drift,
)
from tests.fixtures.learning import history_records, write_jsonl


def test_g35a_bumping_the_scorer_version_gives_a_nonzero_drifted_count():
    report = scorer_drift(history_records(3), "v1", "v2")
    assert report.total == 30
    assert report.drifted == 12  # 4 of the 10 fixture rows change category, three copies each
    assert report.drifted_examples[0] == {
        "index": 1,
        "query": "forklift driver for a cold-storage warehouse",
        "from": "gold",
        "to": "silver",
    }


def test_the_same_version_never_drifts():
    assert scorer_drift(history_records(1), "v2", "v2").drifted == 0


def test_the_shift_matrix_is_ordered_by_count_then_from_then_to():
    matrix = scorer_drift(history_records(1), "v1", "v2").as_dict()["shift_matrix"]
    assert matrix == [
        {"from": "gold", "to": "silver", "count": 2},
        {"from": "needs_review", "to": "needs_review", "count": 2},
        {"from": "reject", "to": "reject", "count": 2},
        {"from": "gold", "to": "gold", "count": 1},
        {"from": "needs_review", "to": "reject", "count": 1},
        {"from": "silver", "to": "reject", "count": 1},
        {"from": "silver", "to": "silver", "count": 1},
    ]


_TWO_PROCESS_SCRIPT = """
from lakehouse.learning.drift import scorer_drift
from tests.fixtures.learning import history_records
import sys
sys.stdout.write(scorer_drift(list(reversed(history_records(3))), "v1", "v2").to_json())
"""


def test_g35b_the_shift_matrix_json_is_byte_identical_across_runs_and_processes():
    def shift_json(text: str) -> str:
        return json.dumps(json.loads(text)["shift_matrix"], sort_keys=True, separators=(",", ":"))

    here = scorer_drift(history_records(3), "v1", "v2")
    assert here.to_json() == scorer_drift(history_records(3), "v1", "v2").to_json()
    outputs = [
        subprocess.run(
            [sys.executable, "-c", _TWO_PROCESS_SCRIPT],
            capture_output=True,
            check=True,
            cwd=Path(__file__).parents[3],
            env={"PYTHONHASHSEED": seed},
        ).stdout.decode()
        for seed in ("1", "2")
    ]
    # Different hash seeds and a reversed history: the matrix bytes must still match.
    assert outputs[0] == outputs[1]
    assert shift_json(outputs[0]).encode() == shift_json(here.to_json()).encode()


def test_unknown_versions_are_named():
    with pytest.raises(UnknownScorerError, match="unknown scorer version 'v9'"):
        scorer_drift(history_records(1), "v1", "v9")


records = st.builds(
    EvidenceRecord,
    query=st.just("q"),
    answer=st.just("a"),
    judge_score=st.none() | st.floats(0, 1),
    success=st.booleans(),
    latency_ms=st.floats(0, 10_000),
    flags=st.lists(st.sampled_from(["pii", "long"]), max_size=2),
)


@given(st.lists(records, max_size=30))
def test_shift_matrix_invariants(history):
    report = scorer_drift(history, "v1", "v2")
    matrix = report.as_dict()["shift_matrix"]
    assert sum(c["count"] for c in matrix) == report.total == len(history)
    assert sum(c["count"] for c in matrix if c["from"] != c["to"]) == report.drifted
    keys = [(-c["count"], c["from"], c["to"]) for c in matrix]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)


# playbook drift on a real HNSW index ---------------------------------------------------------
def _vector(text: str) -> np.ndarray:
    out = np.zeros(32, dtype=np.float32)
    for word in text.lower().split():
        out[int(hashlib.md5(word.encode()).hexdigest(), 16) % 32] += 1
    return out


class TinyCorpus:
    def __init__(self, docs: dict[str, str]) -> None:
        self.ids = list(docs)
        self.index = hnswlib.Index(space="cosine", dim=32)
        self.index.init_index(max_elements=100, ef_construction=100, M=16, random_seed=1)
        self.index.add_items(np.stack([_vector(t) for t in docs.values()]), np.arange(len(docs)))
        self.index.set_ef(50)

    def add(self, doc_id: str, text: str) -> None:
        self.index.add_items(_vector(text)[None, :], [len(self.ids)])
        self.ids.append(doc_id)

    def search(self, query: str, k: int) -> list[dict]:
        labels, _ = self.index.knn_query(_vector(query)[None, :], k=min(k, len(self.ids)))
        return [{"id": self.ids[label], "corpus": "occupations"} for label in labels[0]]


def test_playbook_drift_finds_answers_pushed_out_of_the_top_k():
    corpus = TinyCorpus(
        {
            "nurse": "registered nurse hospital care",
            "driver": "truck driver freight delivery",
            "cook": "restaurant line cook kitchen",
        }
    )
    entries = [
        PlaybookEntry(query="hospital care nurse", answer="nurse", corpus="occupations"),
        PlaybookEntry.model_validate({"query": "freight truck delivery", "answer_id": "driver"}),
    ]
    before = playbook_drift(entries, corpus.search, top_k=1)
    assert before.drifted == 0 and [c.rank for c in before.entries] == [1, 1]
    corpus.add("lpn", "nurse care hospital")  # a closer match arrives
    after = playbook_drift(entries, corpus.search, top_k=1)
    assert after.drifted == 1 and after.drifted_entries[0].answer == "nurse"
    assert after.drifted_entries[0].top_ids == ["lpn"]
    assert playbook_drift(entries, corpus.search, top_k=2).drifted == 0


def test_playbook_entries_only_match_their_own_corpus():
    entries = [PlaybookEntry(query="q", answer="x", corpus="skills")]
    report = playbook_drift(entries, lambda q, k: [{"id": "x", "corpus": "occupations"}], top_k=3)
    assert report.drifted == 1 and report.drift_rate == 1.0
    with pytest.raises(ValueError, match="top_k must be at least 1"):
        playbook_drift(entries, lambda q, k: [], top_k=0)


# embedding drift -----------------------------------------------------------------------------
def test_embedding_drift_between_same_and_shifted_snapshots():
    rng = np.random.default_rng(7)
    base = rng.normal(size=(400, 16))
    same = rng.normal(size=(400, 16))
    shifted = rng.normal(size=(400, 16)) + np.eye(16)[3] * 0.8
    calm = embedding_drift(base, same)
    assert not calm.drifted and calm.p_value > 0.05
    moved = embedding_drift(base, shifted)
    assert moved.drifted and moved.dimension == 3 and moved.dimension_p_value < 1e-6
    assert moved.n_a == 400 and moved.dim == 16 and moved.projection == "cosine_to_pooled_centroid"


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (np.zeros((3, 4)), np.zeros((3, 5)), "snapshots differ in dimension: A has 4, B has 5"),
        (np.zeros((1, 4)), np.zeros((3, 4)), "snapshot A: needs at least 2 vectors"),
        (np.zeros(4), np.zeros((3, 4)), r"snapshot A: expected a 2-D array"),
        (np.zeros((3, 4)), np.array([[0, 0, 0, 0], [0, np.nan, 0, 0]]), "snapshot B: vector 1 contains NaN"),
    ],
)
def test_bad_snapshots_are_named(a, b, message):
    with pytest.raises(ValueError, match=message):
        embedding_drift(a, b)


def test_vector_files_load_and_bad_ones_are_named(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((3, 2)))
    assert load_vectors(tmp_path / "a.npy").shape == (3, 2)
    write_jsonl(tmp_path / "b.jsonl", [{"vector": [1, 2]}, {"vector": [3, 4]}])
    assert load_vectors(tmp_path / "b.jsonl").tolist() == [[1, 2], [3, 4]]
    write_jsonl(tmp_path / "c.jsonl", [{"vector": [1, 2]}, {"vector": [3]}])
    with pytest.raises(InputFileError, match=r"c.jsonl line 2, field 'vector': 1 numbers, earlier lines have 2"):
        load_vectors(tmp_path / "c.jsonl")
    (tmp_path / "d.npy").write_bytes(b"not an array")
    with pytest.raises(InputFileError, match=r"d.npy: not a readable .npy array"):
        load_vectors(tmp_path / "d.npy")
    with pytest.raises(InputFileError, match=r"e.npy: no such file"):
        load_vectors(tmp_path / "e.npy")
