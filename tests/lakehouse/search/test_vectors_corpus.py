"""CorpusManager on real tables, the real object store and the real MiniLM model."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from lakehouse.search.vectors import CorpusError, CorpusExists, CorpusNotFound
from lakehouse.search.vectors.manifest import corpus_table_name, manifest_key
from tests.fixtures.vectors import JOBS, jobs_table, stored_files


def build_jobs(lh, name="jobs", **kw):
    if not lh.tables.exists("jobs"):
        lh.tables.write_arrow("jobs", jobs_table(), mode="overwrite")
    return lh.corpora.build(name, "jobs", ["title", "description"], "job_id", ["city", "state"], **kw)


def top_ids(lh, corpus, query, k=3):
    vector = lh.corpora.embedder().embed([query])
    return [h.id for h in lh.corpora.get(corpus).search(vector, k)[0]]


def stored_state(lh, name):
    """Everything a failed call must leave untouched."""
    keys = lh.store.list("_vectors/")
    manifest = lh.store.get(manifest_key(name)) if lh.corpora.exists(name) else None
    table = corpus_table_name(name)
    snapshot = lh.tables.current_snapshot_id(table) if lh.tables.exists(table) else None
    return keys, manifest, snapshot


def test_build_writes_manifest_index_and_corpus_table(lakehouse, minilm):
    result = build_jobs(lakehouse)
    assert (result.status, result.added, result.count) == ("created", len(JOBS), len(JOBS))
    manifest = lakehouse.corpora.show("jobs")
    assert manifest["model"] == "minilm" and manifest["dims"] == 384
    assert manifest["params"] == {"space": "cosine", "M": 16, "ef_construction": 200, "ef": lakehouse.settings.hnsw_ef}
    assert manifest["source"]["table"] == "jobs"
    assert manifest["source"]["snapshot_id"] == lakehouse.tables.current_snapshot_id("jobs")
    assert manifest["count"] == len(JOBS)
    assert stored_files(lakehouse, "_vectors/jobs/") == [
        "_vectors/jobs/generations/000001.json",
        "_vectors/jobs/index-000001.hnsw",
        "_vectors/jobs/manifest.json",
    ]
    rows = lakehouse.tables.read_arrow("corpus_jobs").to_pylist()
    assert {r["id"] for r in rows} == {j[0] for j in JOBS}
    assert len(rows[0]["vector"]) == 384 and json.loads(rows[0]["metadata"]).keys() == {"city", "state"}
    assert top_ids(lakehouse, "jobs", "forklift driver in a freezer warehouse")[0] == "J-102"
    assert lakehouse.corpora.list()[0]["name"] == "jobs"


def test_where_indexes_only_matching_rows(lakehouse, minilm):
    build_jobs(lakehouse, where="state = 'WI'")
    ids = set(lakehouse.corpora.get("jobs").ids())
    assert ids == {j[0] for j in JOBS if j[4] == "WI"}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(text_cols=["title", "descripton"]),
            r"table 'jobs' has no column 'descripton' \(given as --text\); did you mean 'description'",
        ),
        (dict(id_col="jobid"), r"has no column 'jobid' \(given as --id\); did you mean 'job_id'"),
        (dict(metadata_cols=["State"]), r"has no column 'State' \(given as --meta-cols\); did you mean 'state'"),
        (dict(table="jbos"), r"table 'jbos' not found; did you mean 'lakehouse.jobs'"),
        (dict(name="Bad-Name"), r"corpus name 'Bad-Name' is invalid"),
        (dict(where="no_such_col = 1"), r"--where 'no_such_col = 1' on table 'jobs' failed"),
    ],
)
def test_bad_build_input_is_named_and_writes_nothing(lakehouse, minilm, kwargs, message):
    lakehouse.tables.write_arrow("jobs", jobs_table(), mode="overwrite")
    args = dict(name="jobs2", table="jobs", text_cols=["title", "description"], id_col="job_id", metadata_cols=["city"])
    args.update(kwargs)
    before = lakehouse.store.list(""), lakehouse.tables.list()
    with pytest.raises(ValueError, match=message):
        lakehouse.corpora.build(**args)
    assert (lakehouse.store.list(""), lakehouse.tables.list()) == before


def test_null_and_duplicate_ids_are_refused_with_their_rows(lakehouse, minilm):
    lakehouse.tables.write_arrow("dupes", pa.table({"k": ["a", "b", "a"], "t": ["x", "y", "z"]}), mode="overwrite")
    with pytest.raises(CorpusError, match=r"id 'a' in column 'k' appears in rows 1 and 3"):
        lakehouse.corpora.build("dupes", "dupes", ["t"], "k")
    lakehouse.tables.write_arrow("nulls", pa.table({"k": ["a", None], "t": ["x", "y"]}), mode="overwrite")
    with pytest.raises(CorpusError, match=r"table 'nulls' row 2: id column 'k' is null"):
        lakehouse.corpora.build("nulls", "nulls", ["t"], "k")
    assert lakehouse.store.list("_vectors/") == [] and not lakehouse.tables.exists("corpus_dupes")


def test_rows_without_text_are_skipped_and_reported(lakehouse, minilm):
    lakehouse.tables.write_arrow(
        "sparse", pa.table({"k": ["a", "b", "c"], "t": ["welder", None, "  "]}), mode="overwrite"
    )
    result = lakehouse.corpora.build("sparse", "sparse", ["t"], "k")
    assert result.count == 1 and result.skipped_ids == ["b", "c"]


def test_building_twice_needs_replace_and_unknown_corpus_is_suggested(lakehouse, minilm):
    build_jobs(lakehouse)
    before = stored_state(lakehouse, "jobs")
    with pytest.raises(CorpusExists, match=r"corpus 'jobs' already exists \(16 rows from table 'jobs'\)"):
        build_jobs(lakehouse)
    assert stored_state(lakehouse, "jobs") == before
    with pytest.raises(CorpusNotFound, match=r"corpus 'job' not found; did you mean 'jobs'"):
        lakehouse.corpora.show("job")
    replaced = build_jobs(lakehouse, replace=True)
    assert replaced.status == "replaced"
    # generation 1 stays (a kept generation, for rollback) beside generation 2
    assert stored_files(lakehouse, "_vectors/jobs/") == [
        "_vectors/jobs/generations/000001.json",
        "_vectors/jobs/generations/000002.json",
        "_vectors/jobs/index-000001.hnsw",
        "_vectors/jobs/index-000002.hnsw",
        "_vectors/jobs/manifest.json",
    ]


def test_add_indexes_only_new_ids(lakehouse, minilm):
    build_jobs(lakehouse)
    assert lakehouse.corpora.add("jobs").status == "up_to_date"
    new = pa.table(
        {
            "job_id": ["J-900"],
            "title": ["Beekeeper"],
            "description": ["Tend honey bee hives and harvest honey."],
            "city": ["Urbana"],
            "state": ["IL"],
            "shift": ["day"],
        }
    )
    lakehouse.tables.write_arrow("jobs", new, mode="append")
    result = lakehouse.corpora.add("jobs")
    assert (result.status, result.added, result.count) == ("added", 1, len(JOBS) + 1)
    assert top_ids(lakehouse, "jobs", "apiary worker who looks after bees")[0] == "J-900"
    manifest = lakehouse.corpora.show("jobs")
    assert manifest["source"]["snapshot_id"] == lakehouse.tables.current_snapshot_id("jobs")
    assert lakehouse.tables.read_arrow("corpus_jobs").num_rows == len(JOBS) + 1


def test_delete_hides_rows_and_add_does_not_bring_them_back(lakehouse, minilm):
    build_jobs(lakehouse)
    before = stored_state(lakehouse, "jobs")
    with pytest.raises(CorpusError, match=r"no live row with id\(s\) \['J-999'\]; nothing was deleted"):
        lakehouse.corpora.delete("jobs", ["J-101", "J-999"])
    assert stored_state(lakehouse, "jobs") == before
    assert lakehouse.corpora.delete("jobs", ["J-101", "J-102"]) == {
        "corpus": "jobs",
        "deleted": 2,
        "count": len(JOBS) - 2,
    }
    hits = top_ids(lakehouse, "jobs", "forklift operator", k=16)
    assert "J-101" not in hits and "J-102" not in hits
    assert lakehouse.corpora.add("jobs").status == "up_to_date"  # tombstones keep them out
    lakehouse.corpora.forget()
    assert "J-101" not in top_ids(lakehouse, "jobs", "forklift operator", k=16)  # also after a reload


def test_rebuild_compacts_deletions_with_the_same_results(lakehouse, minilm):
    build_jobs(lakehouse)
    lakehouse.corpora.delete("jobs", ["J-101"])
    before = top_ids(lakehouse, "jobs", "welding steel", k=5)
    result = lakehouse.corpora.rebuild("jobs")
    assert result.count == len(JOBS) - 1 and lakehouse.corpora.show("jobs")["deleted"] == 0
    assert top_ids(lakehouse, "jobs", "welding steel", k=5) == before


def test_drop_removes_index_files_manifest_and_corpus_table(lakehouse, minilm):
    build_jobs(lakehouse)
    assert lakehouse.corpora.drop("jobs")["dropped"]
    assert lakehouse.store.list("_vectors/") == []
    assert not lakehouse.tables.exists("corpus_jobs") and lakehouse.tables.exists("jobs")
    with pytest.raises(CorpusNotFound):
        lakehouse.corpora.get("jobs")


def test_add_repairs_rows_a_crashed_write_left_behind(lakehouse, minilm):
    build_jobs(lakehouse)
    committed = lakehouse.tables.read_arrow("corpus_jobs")
    # A crash after the corpus-table append but before the manifest leaves uncommitted rows.
    lakehouse.tables.write_arrow("corpus_jobs", committed.slice(0, 2), mode="append")
    lakehouse.tables.write_arrow(
        "jobs",
        pa.table(
            {
                "job_id": ["J-901"],
                "title": ["Baker"],
                "description": ["Bake bread."],
                "city": ["Elgin"],
                "state": ["IL"],
                "shift": ["day"],
            }
        ),
        mode="append",
    )
    lakehouse.corpora.forget()
    assert lakehouse.corpora.get("jobs").count == len(JOBS)  # readers see the committed state
    lakehouse.corpora.add("jobs")
    ids = lakehouse.tables.read_arrow("corpus_jobs").column("id").to_pylist()
    assert len(ids) == len(set(ids)) == len(JOBS) + 1
