"""Corpus generations: every commit is a generation; stage, promote, rollback, retention and the
query adapter slot, on real tables, the real object store and the real wordllama model."""

from __future__ import annotations

import json
import logging

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.errors import ErrorKind
from lakehouse.search.errors import CorpusLiveChanged
from lakehouse.search.vectors import CorpusError, CorpusNotFound, Manifest
from lakehouse.search.vectors.manifest import generation_key, manifest_key
from tests.fixtures.vectors import HEALTH_MODEL, health_table, stored_files

ID = "O*NET-SOC Code"
QUERIES = [
    "registered nurse in an intensive care unit",
    "x-ray and radiology technician",
    "pharmacist dispensing medication",
    "dental hygienist cleaning teeth",
    "paramedic on an ambulance",
]
FIRST = 60  # rows in the source table at the first build; the rest arrive before `add`


def new_lakehouse(home, **settings) -> Lakehouse:
    # one build thread: the same HNSW graph every run
    return Lakehouse(Settings(home=home, embed_model=HEALTH_MODEL, hnsw_threads=1, **settings))


@pytest.fixture
def lh(tmp_path):
    lh = new_lakehouse(tmp_path / "lh")
    yield lh
    lh.close()


def build(lh: Lakehouse, rows: int = FIRST):
    lh.tables.write_arrow("health", health_table().slice(0, rows), mode="overwrite")
    return lh.corpora.build("health", "health", ["Title", "Description"], ID, ["group"])


def grow(lh: Lakehouse) -> None:
    lh.tables.write_arrow("health", health_table().slice(FIRST), mode="append")


def hits_json(lh: Lakehouse, queries=QUERIES) -> str:
    results = lh.matrix.search_many(queries, ["health"], use_playbooks=False, relevance=False, top_n=5)
    return json.dumps([[hit.as_dict() for hit in r.hits] for r in results])


def numbers(lh: Lakehouse) -> list[int]:
    return [g["generation"] for g in lh.corpora.generations("health")]


def orthogonal(dims: int, seed: int = 3) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((dims, dims)))
    return q.astype(np.float32)


def test_every_commit_is_a_generation_and_old_ones_stay_searchable(lh):
    build(lh)
    grow(lh)
    assert lh.corpora.add("health").added == len(health_table()) - FIRST
    gone = health_table().column(ID)[0].as_py()
    lh.corpora.delete("health", [gone])
    lh.corpora.rebuild("health")
    rows = lh.corpora.generations("health")
    assert [(g["generation"], g["reason"], g["parent"], g["live"]) for g in rows] == [
        (4, "rebuild", 3, True),
        (3, "delete", 2, False),
        (2, "add", 1, False),
        (1, "build", None, False),
    ]
    assert [g["count"] for g in rows] == [95, 95, 96, 60]
    for n in (1, 2, 3, 4):
        assert lh.store.exists(generation_key("health", n))
        assert lh.corpora.generation_of("health", n).generation == n

    # generation 1 reads the corpus table at its own snapshot: the later add does not leak in
    out = lh.corpora.promote("health", 1)
    assert (out["live"], out["previous"], out["changed"]) == (1, 4, True)
    first = lh.corpora.get("health")
    assert (first.generation, first.count, first.has(gone)) == (1, FIRST, True)
    first_ids = set(health_table().column(ID).to_pylist()[:FIRST])
    assert {h["id"] for hits in json.loads(hits_json(lh)) for h in hits} <= first_ids
    lh.corpora.promote("health", 2)
    assert (lh.corpora.get("health").count, lh.corpora.get("health").has(gone)) == (96, True)
    lh.corpora.promote("health", 3)
    assert (lh.corpora.get("health").count, lh.corpora.get("health").has(gone)) == (95, False)

    # another handle (another process) sees the promoted generation, loading it from storage
    other = new_lakehouse(lh.settings.home)
    try:
        assert other.corpora.get("health").generation == 3 and hits_json(other) == hits_json(lh)
    finally:
        other.close()


def test_rollback_restores_byte_identical_results(lh):
    build(lh)
    before = hits_json(lh)
    staged = lh.corpora.stage("health", adapter=orthogonal(lh.corpora.manifest("health").dims), adapter_meta=None)
    lh.corpora.promote("health", staged)
    adapted = hits_json(lh)
    assert adapted != before
    out = lh.corpora.rollback("health")
    assert (out["live"], out["previous"]) == (1, staged)
    assert hits_json(lh) == before

    grow(lh)
    lh.corpora.add("health")  # generation 3, from generation 1
    assert hits_json(lh) != before
    lh.corpora.rollback("health")
    assert hits_json(lh) == before
    # the history was walked back: generation 1 was live before generation 3, and nothing before 1
    with pytest.raises(CorpusError, match=r"corpus 'health': nothing to roll back to: no generation live before 1"):
        lh.corpora.rollback("health")
    # an explicit rollback may go anywhere kept, and back again
    lh.corpora.rollback("health", staged)
    assert hits_json(lh) == adapted
    assert lh.corpora.rollback("health")["live"] == 1 and hits_json(lh) == before


def test_rollbacks_after_a_promote_walk_back_through_every_generation_that_was_live(lh):
    build(lh)
    dims = lh.corpora.manifest("health").dims
    for _ in range(2):  # generations 2 and 3, each promoted in turn
        lh.corpora.promote("health", lh.corpora.stage("health", adapter=orthogonal(dims), adapter_meta=None))
    lh.corpora.promote("health", 1)  # live: 1, 2, 3, then 1 again
    # the generation promoted was live before 2 as well: the walk back reaches it (it stopped at 2)
    assert [lh.corpora.rollback("health")["live"] for _ in range(3)] == [3, 2, 1]
    with pytest.raises(CorpusError, match=r"nothing to roll back to: no generation live before 1"):
        lh.corpora.rollback("health")


def test_a_switch_expecting_another_live_generation_changes_nothing(lh):
    build(lh)
    staged = lh.corpora.stage("health", adapter=orthogonal(lh.corpora.manifest("health").dims), adapter_meta=None)
    lh.corpora.promote("health", staged, expected_live=1)
    for switch in (
        lambda: lh.corpora.promote("health", 1, expected_live=1),
        lambda: lh.corpora.rollback("health", None, 1),
    ):
        with pytest.raises(CorpusLiveChanged, match=r"corpus 'health': generation 2 is live now, not 1 as you saw it"):
            switch()
    assert lh.corpora.manifest("health").generation == 2


def test_a_staged_generation_is_not_live_until_promoted(lh):
    build(lh)
    before = hits_json(lh)
    dims = lh.corpora.manifest("health").dims
    meta = {"kind": "linear", "trained_on": 12, "metrics": {"mrr": 0.5}}
    staged = lh.corpora.stage("health", adapter=orthogonal(dims), adapter_meta=meta, reason="adapt")
    assert staged == 2
    assert lh.corpora.manifest("health").generation == 1 and lh.corpora.get("health").adapter is None
    assert hits_json(lh) == before
    rows = lh.corpora.generations("health")
    assert [(g["generation"], g["live"], g["adapter"], g["reason"], g["parent"]) for g in rows] == [
        (2, False, meta, "adapt", 1),
        (1, True, None, "build", None),
    ]
    assert lh.corpora.generation_of("health", 2).index_key == lh.corpora.generation_of("health", 1).index_key

    with pytest.raises(CorpusNotFound, match=r"corpus 'health' has no generation 9; its generations are \[2, 1\]") as e:
        lh.corpora.promote("health", 9)
    assert e.value.kind == ErrorKind.NOT_FOUND
    assert lh.corpora.manifest("health").generation == 1

    lh.corpora.promote("health", staged)
    shown = lh.corpora.show("health")
    assert (shown["generation"], shown["adapter"], shown["history"]) == (2, meta, [1])
    assert shown["promoted_at"] and lh.corpora.get("health").adapter is not None
    assert lh.corpora.promote("health", staged)["changed"] is False

    cleared = lh.corpora.stage("health", adapter=None, adapter_meta=None, reason="clear adapter")
    assert lh.corpora.generation_of("health", cleared).adapter_key is None
    lh.corpora.promote("health", cleared)
    assert hits_json(lh) == before

    with pytest.raises(CorpusError, match=r"an adapter must be a \(\d+, \d+\) matrix, got shape \(3, 3\)"):
        lh.corpora.stage("health", adapter=np.eye(3), adapter_meta=None)
    with pytest.raises(CorpusError, match=r"non-finite"):
        lh.corpora.stage("health", adapter=np.full((dims, dims), np.nan), adapter_meta=None)


def test_an_adapter_changes_results_as_adapt_query_predicts(lh):
    build(lh)
    model = lh.corpora.manifest("health").model
    raw = lh.corpora.embedder(model).embed(QUERIES)
    rows = lh.tables.read_arrow("corpus_health", columns=["id", "vector"])
    ids = rows.column("id").to_pylist()
    matrix = np.asarray(rows.column("vector").to_pylist(), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)  # cosine space

    # W maps the first query exactly onto a chosen row's vector: that row must come first, at score 1
    q, target = raw[0], 17
    w = np.eye(len(q), dtype=np.float32) + np.outer(q, matrix[target] - q) / float(q @ q)
    lh.corpora.promote("health", lh.corpora.stage("health", adapter=w, adapter_meta={"kind": "pin"}))
    loaded = lh.corpora.get("health")
    assert np.allclose(loaded.adapt_query(raw[:1])[0], matrix[target], atol=1e-5)
    result = lh.matrix.search(QUERIES[0], ["health"], use_playbooks=False, relevance=False)
    assert result.hits[0].id == ids[target] and result.hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert result.generations == {"health": 2} and result.as_dict()["generations"] == {"health": 2}

    # a random rotation: the hits are the exact nearest rows of the adapted query
    w = orthogonal(len(q), seed=11)
    lh.corpora.promote("health", lh.corpora.stage("health", adapter=w, adapter_meta={"kind": "rotation"}))
    loaded = lh.corpora.get("health")
    adapted = loaded.adapt_query(raw)
    expected = raw @ w
    assert np.allclose(adapted, expected / np.linalg.norm(expected, axis=1, keepdims=True), atol=1e-6)
    results = lh.matrix.search_many(QUERIES, ["health"], use_playbooks=False, relevance=False, top_n=5)
    for result, vector in zip(results, adapted, strict=True):
        scores = matrix @ vector
        best = [ids[i] for i in np.argsort(-scores, kind="stable")[:5]]
        assert [h.id for h in result.hits] == best
        assert [h.raw_score for h in result.hits] == pytest.approx(sorted(scores, reverse=True)[:5], abs=1e-5)
    # without an adapter adapt_query is the identity
    lh.corpora.rollback("health", 1)
    assert lh.corpora.get("health").adapt_query(raw) is raw


def test_a_manifest_from_before_generations_loads_and_becomes_generation_one(lh):
    build(lh)
    before = hits_json(lh)
    raw = json.loads(lh.store.get(manifest_key("health")))
    for key in ("generation", "parent", "reason", "adapter_key", "adapter", "promoted_at", "history"):
        raw.pop(key)
    lh.store.put(manifest_key("health"), json.dumps(raw).encode())
    lh.store.delete(generation_key("health", 1))
    lh.corpora.forget()

    manifest = lh.corpora.manifest("health")
    assert (manifest.generation, manifest.adapter_key, manifest.history) == (manifest.version, None, [])
    assert lh.corpora.get("health").adapter is None and hits_json(lh) == before
    assert [(g["generation"], g["live"]) for g in lh.corpora.generations("health")] == [(1, True)]

    lh.corpora.delete("health", [health_table().column(ID)[0].as_py()])
    assert numbers(lh) == [2, 1] and lh.store.exists(generation_key("health", 1))
    lh.corpora.rollback("health")
    assert hits_json(lh) == before
    # a field a later release adds is ignored rather than refusing the manifest
    newer = json.loads(lh.store.get(manifest_key("health"))) | {"some_future_field": 1}
    assert Manifest.from_json(json.dumps(newer).encode(), "m").generation == 1


def test_retention_keeps_the_last_generations_and_removes_orphaned_files(lh):
    build(lh)
    codes = health_table().column(ID).to_pylist()
    for code in codes[:6]:  # 7 commits in all
        lh.corpora.delete("health", [code])
    assert numbers(lh) == [7, 6, 5, 4, 3]
    files = stored_files(lh, "_vectors/health/")
    assert [k for k in files if "/index-" in k] == [f"_vectors/health/index-{n:06d}.hnsw" for n in (3, 4, 5, 6, 7)]
    assert [k for k in files if "/generations/" in k] == [
        f"_vectors/health/generations/{n:06d}.json" for n in (3, 4, 5, 6, 7)
    ]
    # staged generations never made live do not count (tests/lakehouse/search/
    # test_generations_staged_retention.py): they stay only while among the newest, and go first
    lh.corpora.promote("health", 3)
    for _ in range(7):
        lh.corpora.stage("health", adapter=None, adapter_meta=None)
    assert numbers(lh) == [14, 13, 12, 11, 10, 7, 6, 5, 4, 3]
    files = stored_files(lh, "_vectors/health/")
    assert "_vectors/health/index-000003.hnsw" in files and "_vectors/health/index-000007.hnsw" in files
    with pytest.raises(
        CorpusNotFound, match=r"has no generation 8; its generations are \[14, 13, 12, 11, 10, 7, 6, 5, 4, 3\]"
    ):
        lh.corpora.promote("health", 8)
    assert lh.corpora.get("health").count == FIRST - 2  # generation 3: the build, then two deletes


def test_the_generation_a_change_replaced_is_kept_for_rollback(lh):
    """Back on an old generation (the later ones were bad), one more change must leave that old
    generation to roll back to: it was pruned with its index, and rollback had nothing to go to."""
    build(lh)
    codes = health_table().column(ID).to_pylist()
    for code in codes[:4]:
        lh.corpora.delete("health", [code])  # generations 2-5
    lh.corpora.promote("health", 1)
    before = hits_json(lh)
    lh.corpora.delete("health", [codes[10]])  # generation 6: now 1 is outside the newest five
    assert 1 in numbers(lh)
    lh.corpora.rollback("health")
    assert lh.corpora.manifest("health").generation == 1 and hits_json(lh) == before


def test_an_adapter_file_goes_once_no_kept_generation_names_it(tmp_path):
    lh = new_lakehouse(tmp_path / "lh", corpus_generations_kept=2)
    try:
        build(lh)
        dims = lh.corpora.manifest("health").dims
        lh.corpora.promote("health", lh.corpora.stage("health", adapter=orthogonal(dims), adapter_meta={}))
        codes = health_table().column(ID).to_pylist()
        lh.corpora.delete("health", [codes[0]])  # generation 3 keeps the adapter of generation 2
        lh.corpora.delete("health", [codes[1]])
        assert numbers(lh) == [4, 3]
        assert lh.corpora.get("health").adapter is not None
        assert "_vectors/health/adapter-000002.npz" in stored_files(lh, "_vectors/health/")
        lh.corpora.promote("health", lh.corpora.stage("health", adapter=None, adapter_meta=None))
        lh.corpora.delete("health", [codes[2]])
        assert numbers(lh) == [6, 5]
        assert lh.corpora.get("health").adapter is None
        assert not any("/adapter-" in k for k in lh.store.list("_vectors/health/"))
    finally:
        lh.close()


def test_drop_removes_every_generation(lh):
    build(lh)
    lh.corpora.stage("health", adapter=np.eye(lh.corpora.manifest("health").dims), adapter_meta={})
    lh.corpora.drop("health")
    assert lh.store.list("_vectors/") == []
    with pytest.raises(CorpusNotFound, match=r"corpus 'health' not found"):
        lh.corpora.generations("health")


def test_an_add_after_rolling_back_continues_from_the_rolled_back_rows(lh):
    build(lh)
    grow(lh)
    lh.corpora.add("health")  # generation 2: 96 rows
    lh.corpora.rollback("health")  # generation 1: 60 rows, its own table snapshot
    extra = health_table().slice(0, 1).to_pylist()[0] | {ID: "99-0000.00", "Title": "Hospital chaplain"}
    lh.tables.write_arrow("health", pa.Table.from_pylist([extra], schema=health_table().schema), mode="append")
    out = lh.corpora.add("health")
    assert (out.added, out.count) == (len(health_table()) - FIRST + 1, len(health_table()) + 1)
    assert lh.corpora.generations("health")[0]["parent"] == 1
    table_ids = lh.tables.read_arrow("corpus_health", columns=["id"]).column("id").to_pylist()
    assert len(table_ids) == len(set(table_ids)) == len(health_table()) + 1


def test_promoting_a_staged_adapter_after_rows_changed_says_they_are_undone(lh):
    """A generation is its rows too: the adapter staged before a delete, promoted after it, brought
    the deleted row back into search without a word."""
    build(lh)
    dims = lh.corpora.manifest("health").dims
    staged = lh.corpora.stage("health", adapter=orthogonal(dims), adapter_meta={"kind": "linear"}, reason="adapt")
    gone = health_table().column(ID)[0].as_py()
    lh.corpora.delete("health", [gone])  # generation 3, one row fewer
    switched = lh.corpora.promote("health", staged)
    assert switched["rows"] == (
        f"generation 2 searches the {FIRST} rows it was made with (generation 3 searched {FIRST - 1}): rows added "
        "or deleted since are undone; `lakehouse corpus add health` indexes the table's new rows again, "
        "`corpus delete` deletes again"
    )
    assert lh.corpora.get("health").has(gone)  # as said: what the promote does, now in its answer


def test_one_unreadable_kept_generation_file_neither_fails_a_change_that_went_live_nor_hides_the_others(lh, caplog):
    """The prune after a commit read every kept generation file: one torn file failed the change
    (exit 1) after it was live, and `corpus generations` listed nothing."""
    build(lh)
    grow(lh)
    lh.corpora.add("health")  # generation 2
    lh.store.put("_vectors/health/generations/000001.json", b"{")  # a torn file, a disk error
    files_before = set(stored_files(lh, "_vectors/health/"))
    gone = health_table().column(ID)[0].as_py()
    with caplog.at_level(logging.WARNING, logger="lakehouse.search.vectors.generations"):
        lh.corpora.delete("health", [gone])  # generation 3: no error now
        listed = numbers(lh)
    assert lh.corpora.manifest("health").generation == 3 and not lh.corpora.get("health").has(gone)
    assert listed == [3, 2]
    assert any("000001.json: unreadable corpus manifest" in m and "files are kept" in m for m in caplog.messages)
    assert any("000001.json: unreadable corpus manifest" in m and "not listed" in m for m in caplog.messages)
    assert files_before <= set(stored_files(lh, "_vectors/health/"))  # nothing it may name was deleted
    assert lh.corpora.rollback("health")["live"] == 2


def test_a_live_generation_whose_file_is_gone_says_so_and_a_damaged_adapter_is_not_promoted(lh):
    """A missing index or adapter file read as "changed three times while loading it; try again",
    which no retry fixes; and a truncated adapter file was promoted, then failed every search."""
    build(lh)
    dims = lh.corpora.manifest("health").dims
    staged = lh.corpora.stage("health", adapter=orthogonal(dims), adapter_meta={"kind": "linear"}, reason="adapt")
    adapter_key = lh.corpora.generation_of("health", staged).adapter_key
    whole = lh.store.get(adapter_key)
    lh.store.put(adapter_key, whole[:1000])  # truncated
    with pytest.raises(CorpusError, match=rf"{adapter_key}: "):
        lh.corpora.promote("health", staged)
    assert lh.corpora.manifest("health").generation == 1

    lh.store.put(adapter_key, whole)
    lh.corpora.promote("health", staged)
    other = new_lakehouse(lh.settings.home)  # a process that has not loaded it yet
    try:
        lh.store.delete(adapter_key)
        with pytest.raises(
            CorpusError,
            match=r"corpus 'health': its live generation names a file that is gone \(no object"
            r".*`lakehouse corpus rollback health`",
        ):
            other.corpora.get("health")
    finally:
        other.close()
