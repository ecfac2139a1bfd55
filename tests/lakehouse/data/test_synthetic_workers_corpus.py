"""Synthetic workers as a corpus (wordllama, fast): the certifications list is filterable metadata,
the SQL pre-filter gives the exact filtered top hits, and its cached ids follow the table."""

from __future__ import annotations

import numpy as np
import pytest

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.data import synthetic_workers
from lakehouse.data.ingest import ingest_file

WHERE = "state = 'CA' AND list_contains(certifications, 'OSHA-10')"
SEARCH = {"top_k": 5, "top_n": 5, "use_playbooks": False, "relevance": False}


@pytest.fixture(scope="module")
def lh(tmp_path_factory):
    work = tmp_path_factory.mktemp("workers_corpus")
    synthetic_workers.write_workers(work / "w.parquet", 800, seed=2)
    lakehouse = Lakehouse(Settings(home=work / "home"))
    ingest_file(lakehouse.tables, work / "w.parquet", "workers")
    lakehouse.corpora.build(
        "workers", "workers", ["profile"], "worker_id", metadata_cols=["state", "certifications"], model="wordllama"
    )
    yield lakehouse
    lakehouse.close()


def test_a_metadata_filter_matches_an_element_of_the_certifications_list(lh):
    hits = lh.matrix.search("forklift operator", ["workers"], filter={"certifications": "Forklift"}, **SEARCH).hits
    assert len(hits) == 5 and all("Forklift" in h.metadata["certifications"] for h in hits)


def test_the_sql_pre_filter_gives_the_exact_filtered_top_hits(lh):
    corpus = lh.corpora.get("workers")
    allowed = lh.corpora.candidates("workers", WHERE)
    rows = lh.sql.query(f"SELECT worker_id FROM workers WHERE {WHERE}").rows
    assert allowed == {r[0] for r in rows} and 5 < len(allowed) < 100
    labels = sorted(corpus.labels_for(allowed))
    vectors = corpus.index.vectors(labels)
    for query in ("construction laborer for night shifts", "electrician", "warehouse worker"):
        vector = lh.matrix.embedder_for("wordllama").embed([query])[0]
        exact = [corpus._rows[labels[i]][0] for i in np.argsort(-(vectors @ vector), kind="stable")[:5]]
        assert [h.id for h in lh.matrix.search(query, ["workers"], where=WHERE, **SEARCH).hits] == exact


def test_cached_pre_filter_ids_follow_a_new_snapshot(lh, tmp_path):
    later = "worker_id > 'W0000800'"
    assert lh.corpora.candidates("workers", later) == set()
    # the first 800 of 1,000 rows are the rows already in the table: 200 new ids arrive
    synthetic_workers.write_workers(tmp_path / "more.parquet", 1000, seed=2)
    ingest_file(lh.tables, tmp_path / "more.parquet", "workers")
    assert len(lh.corpora.candidates("workers", later)) == 200


def test_a_subquery_filter_sees_its_other_table_change(lh, tmp_path):
    picks = tmp_path / "picks.jsonl"
    picks.write_text('{"worker_id": "W0000001"}\n')
    ingest_file(lh.tables, picks, "picks")
    where = "worker_id IN (SELECT worker_id FROM picks)"
    assert lh.corpora.candidates("workers", where) == {"W0000001"}
    picks.write_text('{"worker_id": "W0000002"}\n')
    ingest_file(lh.tables, picks, "picks")  # `workers` keeps its snapshot; `picks` has a new one
    assert lh.corpora.candidates("workers", where) == {"W0000001", "W0000002"}
