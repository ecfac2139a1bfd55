"""Matrix search over three real corpora (occupations, jobs, workers) with the real MiniLM model."""

from __future__ import annotations

import pytest

from lakehouse.config import ModelsSettings, ModelTier, Settings
from lakehouse.search.embed import get_embedder
from lakehouse.search.errors import FilterError
from lakehouse.search.matrix import MatrixError, MatrixSearcher
from lakehouse.search.vectors import CorpusError, CorpusNotFound
from tests.fixtures.vectors import JOBS, WORKERS

ALL = ["occupations", "jobs", "workers"]
WELDER = "certified welder for structural steel fabrication"
WELDING_IDS = {"J-104", "J-105", "J-106", "W-203", "W-204", "51-4121.00", "51-4122.00"}


# Off-topic rows the small jobs/workers corpora hand back only because each must fill its top-k:
# every raw jobs/workers hit outside the welding rows.
def pollution(hits) -> set[str]:
    return {h.id for h in hits if h.corpus in ("jobs", "workers")} - WELDING_IDS


def search(lh, query=WELDER, corpora=ALL, **kw):
    kw.setdefault("use_playbooks", False)
    kw.setdefault("force_mode", True)
    return lh.matrix.search(query, corpora, **kw)


def test_three_corpora_merge_into_one_ranking_with_attribution(vector_world):
    result = search(vector_world, relevance=False, top_n=18)
    # each corpus contributes max(per-corpus default 6, top_n 18) candidates, or all it has
    assert result.candidates == 18 + 16 + 12 and result.count == 18
    assert {h.corpus for h in result.hits} == set(ALL)
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    for hit in result.hits:
        assert vector_world.corpora.get(hit.corpus).has(hit.id)  # attribution is right
        assert hit.distance == pytest.approx(1 - hit.score, abs=1e-6) and hit.boosted_by == []
    assert result.hits[0].id == "J-104"
    default_n = search(vector_world, relevance=False)
    assert default_n.count == vector_world.settings.matrix_top_n == 8


def test_state_filter_drops_every_other_state_and_reports_the_count(vector_world):
    il = search(vector_world, relevance=False, top_n=100, filter={"state": "IL"})
    assert il.count > 0 and all(h.metadata["state"] == "IL" for h in il.hits)
    il_rows = sum(1 for row in JOBS if row[4] == "IL") + sum(1 for row in WORKERS if row[3] == "IL")
    assert il.count == il_rows  # fewer than 100 pass: the corpora were searched to the end for more
    # every row of the three corpora is a hit or dropped: occupations (no state key) and the jobs
    # (9 IL rows of 188, few enough to search exactly) were kept out of the search, the workers'
    # other states were dropped from its candidates
    assert il.count + il.metadata_filter_dropped == 188 + 16 + 12
    assert il.metadata_filter_dropped > il.candidates - il.count > 0


def test_a_list_is_or_within_the_key(vector_world):
    both = search(vector_world, relevance=False, top_n=100, filter={"state": ["IL", "WI"]})
    states = {h.metadata["state"] for h in both.hits}
    assert states == {"IL", "WI"}


def test_multi_key_filter_drops_hits_missing_a_key_without_error(vector_world):
    result = search(vector_world, relevance=False, top_n=100, filter={"state": "IL", "shift": "night"})
    assert [h.id for h in result.hits] and all(
        h.metadata["state"] == "IL" and h.metadata["shift"] == "night" for h in result.hits
    )
    # W-203 (IN, no shift key) and every occupation (neither key) are among the dropped.
    ids = {h.id for h in result.hits}
    assert "W-203" not in ids and result.metadata_filter_dropped >= 6


def test_a_filter_key_no_searched_corpus_keeps_is_refused_by_name(vector_world):
    """It answered no hits ("metadata filter dropped 216"), as if no row matched."""
    with pytest.raises(
        FilterError,
        match=r"no corpus searched keeps the metadata 'stat'; did you mean 'state'\? "
        r"\('occupations' keeps 'Title'; 'jobs' keeps 'city', 'state', 'shift'; 'workers' keeps ",
    ):
        search(vector_world, relevance=False, top_n=100, filter={"stat": "IL"})
    with pytest.raises(FilterError, match=r"keeps the metadata 'union_member' \('occupations'"):
        search(vector_world, relevance=False, top_n=100, filter={"union_member": True, "state": "IL"})
    kept_by_one = search(vector_world, corpora=["occupations", "jobs"], relevance=False, filter={"state": "IL"})
    assert kept_by_one.count and {h.corpus for h in kept_by_one.hits} == {"jobs"}


def test_sql_pre_filter_restricts_candidates_before_the_hnsw_search(vector_world):
    # Only two WI welding jobs exist; the pre-filter keeps the walk inside WI rows, so top-k
    # is filled from WI rows instead of being cut afterwards.
    result = search(vector_world, corpora=["jobs"], relevance=False, top_k=6, where="state = 'WI'")
    assert result.count == 6 and all(h.metadata["state"] == "WI" for h in result.hits)
    assert result.hits[0].id == "J-105"
    tight = search(vector_world, corpora=["jobs"], relevance=False, where="job_id IN ('J-113', 'J-115')")
    assert sorted(h.id for h in tight.hits) == ["J-113", "J-115"]
    with pytest.raises(CorpusError, match=r"--where 'salary > 10' on table 'jobs' failed: .*salary"):
        search(vector_world, corpora=["jobs"], where="salary > 10")
    with pytest.raises(CorpusError, match=r"on table 'jobs' failed: .*(statement|read-only)"):
        search(vector_world, corpora=["jobs"], where="1=1; DROP TABLE jobs")
    assert vector_world.tables.exists("jobs")


@pytest.mark.parametrize(
    ("where", "problem"),
    [
        ("1=0) UNION SELECT 'J-105' WHERE (1=1", "closes a parenthesis it did not open"),
        ("state = 'WI') OR (1=1", "closes a parenthesis it did not open"),
        ("state = 'XX' -- ", "holds a comment"),
        ("state = 'XX' /* */ OR 1=1", "holds a comment"),
        ("(state = 'WI'", "leaves a parenthesis open"),
    ],
)
def test_a_where_that_would_not_stay_one_condition_is_refused(vector_world, where, problem):
    """The condition was pasted into the query as it came: a UNION picked the hits from another
    query, a comment cut the rest of the statement off."""
    with pytest.raises(CorpusError, match=rf"^--where .* on table 'jobs' failed: the condition {problem}"):
        search(vector_world, corpora=["jobs"], where=where)


def test_parentheses_in_strings_and_subqueries_stay_conditions(vector_world):
    quoted = search(vector_world, corpora=["jobs"], relevance=False, where="job_id IN ('J-113', ')', '(')")
    assert [h.id for h in quoted.hits] == ["J-113"]
    nested = search(vector_world, corpora=["jobs"], relevance=False, where="job_id IN (SELECT 'J-115')")
    assert [h.id for h in nested.hits] == ["J-115"]


def test_relevance_filter_drops_adjacency_pollution(vector_world):
    raw = search(vector_world, relevance=False, top_n=100)
    polluted = pollution(raw.hits)
    assert len(polluted) >= 6  # the known case: forklift, warehouse, nursing rows fill the small corpora's top-k
    kept = search(vector_world, top_n=100)  # relevance filter on (the default settings)
    ids = [h.id for h in kept.hits]
    assert not set(ids) & polluted
    # The welding jobs and workers, whose titles match the query, stay; the occupations score lower
    # (0.55 against the best 0.83) and may fall outside the margin of a mixed search.
    assert set(ids) <= WELDING_IDS and {"J-104", "W-203", "W-204"} <= set(ids)
    assert kept.relevance_dropped == kept.candidates - len(ids)


def test_relevance_can_be_switched_off_by_environment(vector_world, monkeypatch):
    monkeypatch.setenv("LH_RELEVANCE_FILTER", "false")
    monkeypatch.setenv("LH_RELEVANCE_THRESHOLD", "0.9")
    settings = Settings(home=vector_world.settings.home)
    assert settings.relevance_filter is False and settings.relevance_threshold == 0.9
    searcher = MatrixSearcher(vector_world.corpora, settings, lambda m: get_embedder(m, settings))
    assert searcher.search(WELDER, ALL, force_mode=True, top_n=18).count == 18


def _gated(vector_world):
    models = ModelsSettings(
        weak_models=["ollama_chat/llama3.2:1b"],
        tiers={
            "local_fast": ModelTier(model="ollama_chat/llama3.2:1b"),
            "cloud_judge": ModelTier(model="openai/gpt-4o"),
        },
    )
    settings = Settings(home=vector_world.settings.home, models=models)
    return MatrixSearcher(vector_world.corpora, settings, lambda m: get_embedder(m, settings))


def test_downgrade_flips_composed_retrieval_to_isolation_for_a_strong_model(vector_world):
    searcher = _gated(vector_world)
    strong = searcher.search(WELDER, ALL, model="cloud_judge", relevance=False, top_n=18)
    assert strong.downgrade.mode == "isolation" and strong.downgrade.corpora == ["occupations"]
    assert "not in weak_models" in strong.downgrade.reason
    assert {h.corpus for h in strong.hits} == {"occupations"}
    forced = searcher.search(WELDER, ALL, model="cloud_judge", force_mode=True, relevance=False, top_n=18)
    assert forced.downgrade.mode == "composed" and forced.downgrade.forced
    assert {h.corpus for h in forced.hits} == set(ALL)
    weak = searcher.search(WELDER, ALL, model="local_fast", relevance=False, top_n=18)  # tier of a weak model
    assert weak.downgrade.mode == "composed" and "is in weak_models" in weak.downgrade.reason
    assert {h.corpus for h in weak.hits} == set(ALL)


def test_bad_requests_name_the_problem(vector_world):
    with pytest.raises(CorpusNotFound, match=r"corpus 'job' not found; did you mean 'jobs'"):
        search(vector_world, corpora=["occupations", "job"])
    with pytest.raises(MatrixError, match="at least one corpus"):
        search(vector_world, corpora=[])
    with pytest.raises(MatrixError, match=r"top_k and top_n must be at least 1 \(got top_k=0"):
        search(vector_world, top_k=0)
