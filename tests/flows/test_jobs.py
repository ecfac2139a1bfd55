"""The scheduled jobs as real deployments: `prefect.yaml` deployed to a real Prefect server with
`prefect deploy`, a drift-nightly run picked up by a real process worker, and `lakehouse serve`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest
import yaml

from flows.jobs import DEPLOYMENTS, WORK_POOL
from tests.fixtures.serve import forget_deployment, lakehouse_serve

if TYPE_CHECKING:
    from prefect.client.schemas.objects import Artifact

pytestmark = pytest.mark.prefect
REPO = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def test_prefect_yaml_mirrors_the_deployments_lakehouse_serve_builds():
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    deployed = {d["name"]: d for d in spec["deployments"]}
    assert list(deployed) == [d.name for d in DEPLOYMENTS]
    for wanted in DEPLOYMENTS:
        got = deployed[wanted.name]
        assert got["entrypoint"] == wanted.entrypoint
        assert [s["cron"] for s in got.get("schedules", [])] == ([wanted.cron] if wanted.cron else [])
        assert (got.get("parameters") or {}) == wanted.parameters
        assert got["work_pool"]["name"] == WORK_POOL
        assert got["description"] == wanted.description


def test_serve_builds_the_same_deployments():
    from flows.cli.serve import build_deployments

    built = {d.name: d for d in build_deployments()}
    assert set(built) == {"drift-nightly", "playbook-lift-weekly", "run-workflow", "tables-gc", "adapt-weekly"}
    assert built["adapt-weekly"].entrypoint == "flows.jobs.adapt_weekly_flow"
    assert built["tables-gc"].entrypoint == "flows.maintenance.tables_gc_flow"
    assert built["drift-nightly"].entrypoint == "flows.jobs.drift_nightly_flow"
    assert built["run-workflow"].entrypoint == "flows.runner.run_workflow_flow"
    assert built["playbook-lift-weekly"].schedules[0].schedule.cron == "0 3 * * 1"
    assert built["playbook-lift-weekly"].parameters["queries"] == "examples/lift/onet_dev.jsonl"


# against the real server ---------------------------------------------------------------------
def _env(api_url: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LH_")}
    env.update(
        PREFECT_API_URL=api_url,
        LH_HOME=str(home),
        LH_EMBED_MODEL="wordllama",
        LH_CONFIG=os.devnull,
        PREFECT_LOGGING_LEVEL="WARNING",
        PREFECT_RUNNER_POLL_FREQUENCY="1",  # `lakehouse serve` picks a triggered run up in a second, not ten
    )
    return env


def _wait_final(client, run_id, timeout: float = 240.0):
    deadline = time.monotonic() + timeout
    run = client.read_flow_run(run_id)
    while run.state.type.value not in FINAL and time.monotonic() < deadline:
        time.sleep(1)
        run = client.read_flow_run(run_id)
    return run


def _artifacts(client, run_id) -> dict[str | None, Artifact]:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    found = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])))
    return {a.key: a for a in found}


def _check_drift_run(client, run_id, home: Path) -> None:
    run = _wait_final(client, run_id)
    assert run.state.type.value == "COMPLETED", run.state
    artifacts = _artifacts(client, run_id)
    assert {"drift-nightly", "drift-nightly-checks"} <= set(artifacts)
    markdown = cast(str, artifacts["drift-nightly"].data)  # a Markdown artifact's data is its text
    assert "| scorer |" in markdown and "8 of 20 records change category (v1 -> v2)" in markdown
    assert "| playbook | jobs | ok | no |" in markdown and "| embedding | jobs | ok |" in markdown
    assert (home / "drift" / f"nightly-{run_id}.json").exists()


def test_prefect_yaml_deploys_and_a_process_worker_runs_drift_nightly(prefect_server, jobs_home):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectAlreadyExists

    env = _env(prefect_server, jobs_home)
    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name=WORK_POOL, type="process"))
        except ObjectAlreadyExists:
            pass
    deploy = subprocess.run(
        [PREFECT, "--no-prompt", "deploy", "--all"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    with get_client(sync_client=True) as client:
        names = {d.name for d in client.read_deployments()}
        assert {"drift-nightly", "playbook-lift-weekly", "run-workflow", "tables-gc"} <= names
        lift = client.read_deployment_by_name("playbook-lift/playbook-lift-weekly")
        assert lift.work_pool_name == WORK_POOL and lift.parameters["corpora"] == ["onet"]
    flow_run = run_deployment("drift-nightly/drift-nightly", timeout=0)
    worker = subprocess.run(
        [PREFECT, "worker", "start", "--pool", WORK_POOL, "--type", "process", "--run-once"],
        cwd=jobs_home,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    with get_client(sync_client=True) as client:
        run = _wait_final(client, flow_run.id, timeout=30)
        assert run.state.type.value == "COMPLETED", worker.stdout[-3000:] + worker.stderr[-3000:]
        _check_drift_run(client, flow_run.id, jobs_home)


def test_lakehouse_serve_runs_a_triggered_drift_nightly(prefect_server, jobs_home):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    with get_client(sync_client=True) as client:
        forget_deployment(client, "drift-nightly/drift-nightly")
        with lakehouse_serve(_env(prefect_server, jobs_home), jobs_home, jobs_home / "serve.log") as serving:
            serving.deployment(client, "drift-nightly/drift-nightly")
            flow_run = run_deployment("drift-nightly/drift-nightly", timeout=0)
            _check_drift_run(client, flow_run.id, jobs_home)


# the flows in process, against the same server ------------------------------------------------
@pytest.fixture
def job_settings(monkeypatch):
    from lakehouse.config import reset_settings

    def point_at(home: Path) -> Path:
        monkeypatch.setenv("LH_HOME", str(home))
        monkeypatch.setenv("LH_EMBED_MODEL", "wordllama")
        reset_settings()
        return home

    yield point_at
    reset_settings()


def _has_corpus(home: Path, name: str) -> bool:
    from lakehouse.config import Settings
    from lakehouse.core import Lakehouse

    lh = Lakehouse(Settings(home=home))
    try:
        return lh.corpora.exists(name)
    finally:
        lh.close()


def test_playbook_lift_flow_builds_its_corpus_and_attaches_the_report(prefect_server, job_settings, tmp_path):
    import csv

    from prefect.client.orchestration import get_client

    from flows.jobs import playbook_lift_flow
    from tests.fixtures.lift import write_queries
    from tests.fixtures.vectors import JOBS

    home = job_settings(tmp_path / "home")
    source = tmp_path / "jobs.csv"
    with open(source, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["job_id", "title", "description", "city", "state", "shift"])
        writer.writerows(JOBS)
    queries = write_queries(
        tmp_path / "q.jsonl",
        [
            {"query": "stainless TIG welding", "expected": ["J-105"]},
            {"query": "night shift forklift", "expected": ["J-101"]},
        ],
    )
    state = playbook_lift_flow(
        corpora=["jobs"],
        queries=str(queries),
        top_k=5,
        out_dir=str(tmp_path / "out"),
        return_state=True,
        source={
            "corpus": "jobs",
            "path": str(source),
            "table": "jobs",
            "text_cols": ["title", "description"],
            "id_col": "job_id",
        },
    )
    assert state.is_completed(), state
    report = state.result()
    assert report["queries"] == 2 and report["recall_at_1_warm"] == 1.0
    with get_client(sync_client=True) as client:
        artifacts = _artifacts(client, state.state_details.flow_run_id)
    markdown = artifacts["playbook-lift-verbatim"].data
    assert "# Playbook lift: verbatim replay" in markdown and str(tmp_path / "out" / "lift-chart.png") in markdown
    assert (tmp_path / "out" / "lift-chart.png").exists()
    assert "playbook-lift-verbatim-metrics" in artifacts
    assert _has_corpus(home, "jobs")


def test_a_broken_drift_check_fails_the_flow_run_but_keeps_the_artifact(prefect_server, job_settings, tmp_path):
    from prefect.client.orchestration import get_client

    from flows.jobs import drift_nightly_flow

    home = job_settings(tmp_path / "home")
    home.mkdir()
    (home / "evidence.jsonl").write_text('{"query": "welder"}\n')
    state = drift_nightly_flow(return_state=True)
    assert state.is_failed()
    assert "scorer drift on" in state.message and "field 'answer'" in state.message
    with get_client(sync_client=True) as client:
        artifacts = _artifacts(client, state.state_details.flow_run_id)
    assert "| scorer |" in artifacts["drift-nightly"].data and "| failed |" in artifacts["drift-nightly"].data


def test_the_nightly_tables_gc_also_trims_the_history(prefect_server, job_settings, tmp_path):
    from datetime import UTC, datetime, timedelta

    from prefect.client.orchestration import get_client

    from flows.maintenance import tables_gc_flow
    from lakehouse.config import Settings
    from lakehouse.core import Lakehouse
    from lakehouse.observe.observer import ObservedOp

    home = job_settings(tmp_path / "home")
    lh = Lakehouse(Settings(home=home))
    old = datetime.now(UTC) - timedelta(days=100)
    lh.observer.record(ObservedOp(ts_start=old, ts_end=old, duration_ms=1, source="workflow", status="completed"))
    lh.close()
    state = tables_gc_flow(return_state=True)
    assert state.is_completed(), state
    assert state.result()["history"]["ops"] == 1
    with get_client(sync_client=True) as client:
        artifacts = _artifacts(client, state.state_details.flow_run_id)
    assert "history before" in artifacts["tables-gc"].data and "dropped 1 op(s)" in artifacts["tables-gc"].data
    assert old.isoformat()[:19] not in (home / "ops.jsonl").read_text()
