"""A corpus's title column: embedded on its own too and averaged into each row's vector, so a long
description does not drown the short title queries look like (real MiniLM, real tables)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.search.embed.base import normalise
from lakehouse.search.vectors import CorpusError
from lakehouse.search.vectors.manifest import Manifest, resolve_title
from modes.context import ModeContext
from modes.invoke import invoke_mode
from tests.fixtures.vectors import JOBS, jobs_table


def stored_vectors(lh, name) -> dict[str, np.ndarray]:
    rows = lh.tables.read_arrow(f"corpus_{name}").to_pylist()
    return {r["id"]: np.asarray(r["vector"], dtype=np.float32) for r in rows}


def expected_vectors(minilm, titled: bool) -> dict[str, np.ndarray]:
    texts = [f"{title}\n{description}" for _, title, description, *_ in JOBS]
    vectors = minilm.embed(texts)
    if titled:
        vectors = normalise(vectors + minilm.embed([title for _, title, *_ in JOBS]))
    return {job[0]: vector for job, vector in zip(JOBS, vectors, strict=True)}


@pytest.fixture
def jobs(lakehouse, minilm):
    lakehouse.tables.write_arrow("jobs", jobs_table(), mode="overwrite")
    return lakehouse


def build_mode(lh, payload):
    return invoke_mode("corpus.build", payload, ModeContext.standalone(lh, trusted_paths=True))


def assert_vectors(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert got.keys() == want.keys()
    for row_id, vector in want.items():
        np.testing.assert_allclose(got[row_id], vector, atol=1e-5, err_msg=row_id)


@pytest.mark.parametrize(
    "given, text_cols, resolved",
    [
        ("auto", ["title", "description"], "title"),
        ("auto", ["description"], None),
        ("none", ["title", "description"], None),
        ("", ["title", "description"], None),
        (None, ["title", "description"], None),
        (" city ", ["title", "description"], "city"),
    ],
)
def test_resolve_title(given, text_cols, resolved):
    assert resolve_title(given, text_cols) == resolved


def test_two_text_columns_title_the_first_by_default(jobs, minilm):
    jobs.corpora.build("jobs", "jobs", ["title", "description"], "job_id")
    assert jobs.corpora.show("jobs")["source"]["title_col"] == "title"
    assert_vectors(stored_vectors(jobs, "jobs"), expected_vectors(minilm, titled=True))


def test_title_none_keeps_the_text_vector_alone(jobs, minilm):
    jobs.corpora.build("jobs", "jobs", ["title", "description"], "job_id", title_col="none")
    assert jobs.corpora.show("jobs")["source"]["title_col"] is None
    assert_vectors(stored_vectors(jobs, "jobs"), expected_vectors(minilm, titled=False))


def test_added_rows_get_the_same_composition_and_a_missing_title_the_text_alone(jobs, minilm):
    jobs.corpora.build("jobs", "jobs", ["title", "description"], "job_id")
    extra = pa.table(
        {
            "job_id": ["J-900", "J-901"],
            "title": ["Crane Operator", None],
            "description": ["Operate tower cranes on high-rise sites.", "Sort parcels on a conveyor line."],
            "city": ["Chicago", "Chicago"],
            "state": ["IL", "IL"],
            "shift": ["day", "day"],
        }
    )
    jobs.tables.write_arrow("jobs", extra, mode="append")
    assert jobs.corpora.add("jobs").added == 2
    got = stored_vectors(jobs, "jobs")
    crane = minilm.embed(["Crane Operator\nOperate tower cranes on high-rise sites.", "Crane Operator"])
    crane = normalise(crane.sum(axis=0, keepdims=True))
    np.testing.assert_allclose(got["J-900"], crane[0], atol=1e-5)
    np.testing.assert_allclose(got["J-901"], minilm.embed(["Sort parcels on a conveyor line."])[0], atol=1e-5)


def test_unknown_title_column_is_named_and_writes_nothing(jobs):
    before = jobs.store.list(""), jobs.tables.list()
    with pytest.raises(CorpusError, match=r"has no column 'titel' \(given as --title\); did you mean 'title'"):
        jobs.corpora.build("jobs", "jobs", ["title", "description"], "job_id", title_col="titel")
    assert (jobs.store.list(""), jobs.tables.list()) == before


def test_a_manifest_from_before_titles_reads_as_no_title(jobs):
    jobs.corpora.build("jobs", "jobs", ["title", "description"], "job_id")
    raw = json.loads(jobs.corpora.manifest("jobs").to_json())
    del raw["source"]["title_col"]
    assert Manifest.from_json(json.dumps(raw).encode(), "old manifest").source.title_col is None


def test_mode_adds_to_an_existing_corpus_with_its_own_title_unless_another_is_asked(jobs):
    jobs.corpora.build("jobs", "jobs", ["title", "description"], "job_id", title_col="none")
    payload = {"name": "jobs", "table": "jobs", "text_cols": ["title", "description"], "id_col": "job_id"}
    assert build_mode(jobs, payload)["status"] == "up_to_date"  # title auto: keeps its own
    with pytest.raises(
        CorpusError, match=r"exists with another source or model \(as built -> as asked: title_col None -> 'title'\)"
    ):
        build_mode(jobs, {**payload, "title": "title"})
    assert jobs.corpora.show("jobs")["source"]["title_col"] is None
