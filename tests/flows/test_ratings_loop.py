"""The learning loop closes: a coordinator's ratings from the CLI, HTTP and a workflow node each land
as a playbook entry and an evidence record, and the nightly drift run (the `drift-nightly` flow)
reads them: scorer drift re-scores every rating, playbook drift checks the good ones."""

from __future__ import annotations

import json

import pytest

from flows.jobs import drift_nightly_flow
from flows.loader import load_workflow
from flows.runner import current_lakehouse, run_workflow
from lakehouse.common.recordfile import read_records
from lakehouse.learning.distill import EvidenceRecord
from tests.fixtures import ratings
from tests.fixtures.cli import invoke_cli
from tests.fixtures.http import make_settings, serve
from tests.fixtures.ratings import HYGIENIST, NURSE, open_home
from tests.fixtures.vectors import HEALTH_MODEL

rating_home = ratings.rating_home  # the fixture: a writable copy of the health home

pytestmark = pytest.mark.prefect


def test_ratings_from_every_surface_reach_playbooks_evidence_and_nightly_drift(prefect_server, rating_home):
    # CLI
    cli = json.loads(
        invoke_cli(
            "rate", "ICU nurse for nights", "--corpus", "health", "--good", NURSE, "--by", "ana", "--json"
        ).stdout
    )
    # HTTP
    with serve(make_settings(rating_home, embed_model=HEALTH_MODEL)) as api, api.client() as client:
        response = client.post(
            "/v1/matrix/feedback",
            json={"query": "teeth cleaning", "corpus": "health", "id": NURSE, "verdict": "bad", "by": "bo"},
        )
    assert response.status_code == 200, response.text
    http = response.json()
    # a workflow node
    inputs = {"request": "dental hygienist", "corpus": "health", "by": "judge-node"}
    run = run_workflow(load_workflow("rate-top-hit", inputs))  # the shipped example (workflows/)
    assert run.status == "completed", run
    node = run.nodes["rate"].output
    assert node is not None and node["recorded"] == 1

    top_hit = run.nodes["search"].output["hits"][0]["id"]
    assert top_hit == HYGIENIST  # what the node rated: the top hit for "dental hygienist"
    ids = {"cli": cli["results"][0]["id"], "http": http["results"][0]["id"], "workflow": node["results"][0]["id"]}
    lh = open_home(rating_home)
    playbooks = {p.id: p for p in lh.playbooks.entries()}
    assert {surface: (playbooks[i].answer, playbooks[i].score) for surface, i in ids.items()} == {
        "cli": (NURSE, 1.0),
        "http": (NURSE, -1.0),
        "workflow": (top_hit, 1.0),
    }
    evidence = {e.id: e for e in read_records(rating_home / "evidence.jsonl", EvidenceRecord)}
    assert {surface: evidence[i].meta["source"] for surface, i in ids.items()} == {
        "cli": "mode",  # a direct call from the user's own process
        "http": "http",
        "workflow": "workflow",
    }
    assert evidence[ids["workflow"]].source_run == f"{run.run_id}/rate"
    assert evidence[ids["workflow"]].meta["by"] == "judge-node"
    lh.close()

    report = drift_nightly_flow()
    checks = {c["check"]: c for c in report["checks"]}
    scorer = checks["scorer"]
    assert scorer["status"] == "ok" and scorer["target"] == str(rating_home / "evidence.jsonl")
    assert scorer["result"]["total"] == 3  # every rating re-scored
    assert scorer["result"]["drifted"] == 0  # a person's verdict means the same to both scorers
    playbook = checks["playbook"]
    assert playbook["status"] == "ok" and playbook["target"] == "health"
    assert playbook["result"]["checked"] == 2  # the two good ratings; the bad one is not a recorded answer
    assert current_lakehouse().settings.home_dir == rating_home
