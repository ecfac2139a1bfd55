"""The `adapt-weekly` flow in process against a real Prefect server: it adapts the corpus with new
ratings, skips the ones without, and attaches the report (Markdown + PNG chart) as artifacts; a
second run finds nothing new to learn from."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.fixtures.adapt import entries, onet_lakehouse, titles

if TYPE_CHECKING:
    from prefect.client.schemas.objects import Artifact

pytestmark = pytest.mark.prefect


@pytest.fixture
def job_home(monkeypatch, tmp_path):
    from lakehouse.config import reset_settings
    from tests.fixtures.vectors import HEALTH_MODEL

    home = tmp_path / "home"
    lh = onet_lakehouse(home)
    try:
        lh.corpora.build("idle", "onet", ["Title"], "O*NET-SOC Code")
        lh.playbooks.record_many(entries(titles("titles_train", 300)))
    finally:
        lh.close()
    monkeypatch.setenv("LH_HOME", str(home))
    monkeypatch.setenv("LH_EMBED_MODEL", HEALTH_MODEL)
    reset_settings()
    yield home
    reset_settings()


def _artifacts(run_id) -> dict[str | None, Artifact]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    return {a.key: a for a in found}


def test_adapt_weekly_adapts_corpora_with_new_ratings_and_attaches_the_report(prefect_server, job_home):
    from flows.jobs import adapt_weekly_flow
    from lakehouse.learning.adapt import VOTE_WEIGHTS

    state = adapt_weekly_flow(return_state=True)
    assert state.is_completed(), state
    rows = {r["corpus"]: r for r in state.result()["corpora"]}
    assert rows["onet"]["status"] in {"promoted", "refused"} and rows["onet"]["pairs"] == 300
    assert rows["onet"]["generation"] and rows["onet"]["why"].startswith(("promoted", "refused"))
    # what the gate chose beside the adapter: the vote weight, and whether the reranker stayed
    assert rows["onet"]["vote_weight"] in VOTE_WEIGHTS
    assert rows["onet"]["reranker"] == "kept" or rows["onet"]["reranker"].startswith("not kept: ")
    assert rows["idle"] == {"corpus": "idle", "status": "skipped", "why": "no positive entries recorded"}
    artifacts = _artifacts(state.state_details.flow_run_id)
    markdown = artifacts["adapt-weekly"].data
    assert "# Weekly adaptation" in markdown and "| onet |" in markdown and "| idle | skipped |" in markdown
    assert "| generation | vote weight | reranker | why |" in markdown
    assert f"| {rows['onet']['vote_weight']} | {rows['onet']['reranker']} | {rows['onet']['why']} |" in markdown
    chart = Path(markdown.split("Chart (PNG): `")[1].split("`")[0])
    assert chart.exists() and chart.read_bytes().startswith(b"\x89PNG")
    assert "adapt-weekly-corpora" in artifacts and '"reranker"' in str(artifacts["adapt-weekly-corpora"].data)

    again = adapt_weekly_flow(return_state=True)  # nothing recorded since: nothing to learn
    rows = {r["corpus"]: r for r in again.result()["corpora"]}
    generation = max(g["generation"] for g in _generations(job_home, "onet") if g["adapter"])
    assert rows["onet"] == {
        "corpus": "onet",
        "status": "skipped",
        "why": f"no entries recorded since generation {generation} was trained (300 entries)",
    }


def test_placements_imported_with_old_dates_after_an_adapt_are_new_to_the_next_one(job_home):
    """Their judgement times are older than anything trained on: by those, nothing was new, and the
    weekly job never adapted on a history imported after its first run."""
    from flows.jobs import plan_adaptations
    from lakehouse.config import Settings
    from lakehouse.core import Lakehouse
    from lakehouse.learning.adapt import adapt_corpus

    old = [{**e, "ts": "2025-01-01T00:00:00+00:00"} for e in entries(titles("titles_train", 320)[300:])]
    lh = Lakehouse(Settings())
    try:
        adapt_corpus(lh, "onet", rerank=False)  # what the weekly job runs, without its reranker
        assert plan_adaptations(lh, ["onet"])[0]["action"] == "skip"
        assert lh.playbooks.record_many(old)["recorded"] == 20
        plan = {p["corpus"]: p for p in plan_adaptations(lh)}
    finally:
        lh.close()
    generation = max(g["generation"] for g in _generations(job_home, "onet") if g["adapter"])
    assert plan["onet"] == {
        "corpus": "onet",
        "action": "adapt",
        "why": f"320 entries, 300 when generation {generation} was trained",
    }


def _generations(home: Path, corpus: str) -> list[dict]:
    from lakehouse.config import Settings
    from lakehouse.core import Lakehouse

    lh = Lakehouse(Settings(home=home))
    try:
        return lh.corpora.generations(corpus)
    finally:
        lh.close()
