"""Issue 11.6: `top_n` is what the caller gets when that many hits pass the filters. Each corpus
contributes max(per-corpus, top_n) candidates, and a metadata filter that drops candidates makes
the corpora give more (bounded), so neither the per-corpus default (6) nor the filter starves a
caller who asks for 10. Real O*NET healthcare rows (96) and the real wordllama embedder. The
relevance filter is a filter too: tests of the candidate supply switch it off where it would drop
hits of a broad query."""

from __future__ import annotations

import pytest

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.search import matrix
from lakehouse.search.vectors import index as vector_index
from modes.context import ModeContext
from modes.invoke import invoke_mode
from tests.fixtures.vectors import HEALTH_MODEL, health_table

NURSE = "registered nurse for a hospital ward"
GROUPS = {code: code[:4] for code in health_table().column("O*NET-SOC Code").to_pylist()}


@pytest.fixture
def health(health_home):
    lh = Lakehouse(Settings(home=health_home, embed_model=HEALTH_MODEL))
    yield lh
    lh.close()


def _search(lh: Lakehouse, **payload) -> dict:
    """Through the mode `matrix.search`, as workflows, HTTP and the CLI call it."""
    return invoke_mode("matrix.search", {"query": NURSE, "corpora": ["health"], **payload}, ModeContext.standalone(lh))


def test_top_n_10_with_the_default_per_corpus_gives_10_hits(health):
    assert health.settings.matrix_top_k == 6 < 10 <= health.corpora.get("health").count
    out = _search(health, top_n=10)
    assert out["count"] == len(out["hits"]) == 10
    assert out["candidates"] >= 10
    small = _search(health, top_n=10, top_k=3)  # a per-corpus value below top_n is raised to it
    assert [h["id"] for h in small["hits"]] == [h["id"] for h in out["hits"]]
    wide = _search(health, top_n=10, top_k=30)  # a larger per-corpus value is kept
    assert wide["candidates"] == 30 and wide["count"] == 10


def test_the_library_call_behind_every_surface_gives_top_n(health):
    queries = [NURSE, "radiology technician", "dental hygienist"]
    results = health.matrix.search_many(queries, ["health"], top_n=10, relevance=False)
    assert [r.count for r in results] == [10, 10, 10]
    assert [len({h.id for h in r.hits}) for r in results] == [10, 10, 10]


def test_a_metadata_filter_that_drops_candidates_still_yields_top_n(health):
    out = _search(health, top_n=10, filter={"group": "29-2"}, relevance=False)
    assert out["metadata_filter_dropped"] > 0  # the filter did drop candidates ...
    assert out["count"] == 10  # ... and the corpus was asked for more until 10 passed
    assert all(h["metadata"]["group"] == "29-2" for h in out["hits"])
    # the hits are the 10 nearest technicians: the same as filtering an unfiltered deep search
    everything = health.matrix.search(NURSE, ["health"], top_n=len(GROUPS), relevance=False, use_playbooks=False)
    nearest = [h.id for h in everything.hits if GROUPS[h.id] == "29-2"][:10]
    unboosted = _search(health, top_n=10, filter={"group": "29-2"}, relevance=False, playbooks=False)
    assert [h["id"] for h in unboosted["hits"]] == nearest


def test_a_filter_matching_fewer_rows_than_top_n_gives_them_all(health):
    technicians = sum(1 for group in GROUPS.values() if group == "29-2")
    out = _search(health, top_n=50, filter={"group": "29-2"}, relevance=False)
    assert out["count"] == technicians < 50
    nothing = _search(health, top_n=10, filter={"group": "53-7"}, relevance=False)
    # a filter no row passes is answered from the rows: nothing is searched, every row is dropped
    assert nothing["count"] == nothing["candidates"] == 0 and nothing["metadata_filter_dropped"] == len(GROUPS)


def test_no_over_fetching_for_rows_the_relevance_filter_would_drop_anyway(health_home):
    strict = Lakehouse(Settings(home=health_home, embed_model=HEALTH_MODEL, relevance_threshold=0.99))
    try:
        out = _search(strict, top_n=10)
        assert out["count"] == 0 and out["relevance_dropped"] == 10
        # the 10th candidate is already below the bar; everything the corpus did not return is
        # farther still, so it is not asked for more
        assert out["candidates"] == 10
    finally:
        strict.close()


def test_over_fetching_is_bounded(health, monkeypatch):
    monkeypatch.setattr(matrix, "MAX_CANDIDATES_PER_CORPUS", 16)
    # as for a filter admitting too many rows to search exactly: it filters the nearest candidates
    monkeypatch.setattr(vector_index, "EXACT_MAX_ROWS", -1)
    out = _search(health, top_n=10, filter={"group": "53-7"})  # matches no row
    assert out["count"] == 0 and out["candidates"] == 16  # 10, then at most 16: never the whole corpus
