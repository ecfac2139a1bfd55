"""`lakehouse workflow resume` against a real Prefect server: a run fails on a missing file, the file
is created, the resume reuses what completed and runs the rest, linked to its parent."""

from __future__ import annotations

import json
from uuid import UUID

import pytest

from tests.fixtures.cli import invoke_cli

pytestmark = pytest.mark.prefect

WORKFLOW = """
name: resume-demo
nodes:
  - {id: start, mode: fixture.echo, with: {value: hello}}
  - {id: need, mode: fixture.require_file, depends_on: [start], with: {path: flag.txt}}
  - {id: shout, mode: fixture.upper, depends_on: [need], with: {text: $start.output.value}}
  - {id: aside, mode: fixture.echo, depends_on: [start], with: {value: aside}}
"""


def _json(result) -> dict:
    return json.loads(result.stdout)


def _ops(run_ids) -> list[dict]:
    from flows.runner import current_lakehouse

    rows = current_lakehouse().observer.ops()
    return [r for r in rows if r.get("run_id") in set(run_ids)]


def _completed(ops: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for op in ops:
        if op["status"] == "completed":
            counts[op["node_id"]] = counts.get(op["node_id"], 0) + 1
    return counts


def _prefect_flow_run(run_id: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(UUID(run_id))
        task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id])))
    return flow_run, task_runs


@pytest.fixture
def demo(prefect_server, lh_home, tmp_path):
    lh_home.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "resume-demo.yaml"
    path.write_text(WORKFLOW)
    return path


def test_resume_after_a_failure_reuses_completed_nodes(demo, lh_home):
    parent = _json(invoke_cli("workflow", "run", str(demo), "--json", code=1))
    assert parent["nodes"]["need"]["error"] == "FixtureFailure: missing file: flag.txt"
    assert parent["nodes"]["shout"]["status"] == "skipped"

    (lh_home / "flag.txt").write_text("ready")
    child = _json(invoke_cli("workflow", "resume", parent["run_id"], "--json"))
    assert child["status"] == "completed"
    assert child["parent_run_id"] == parent["run_id"] and child["run_id"] != parent["run_id"]
    assert sorted(child["reused"]) == ["aside", "start"]
    assert child["rerun"] == {"need": "failed", "shout": "downstream of need"}

    # completed nodes did not run again: one completed attempt per node across both runs
    ops = _ops([parent["run_id"], child["run_id"]])
    assert _completed(ops) == {"start": 1, "aside": 1, "need": 1, "shout": 1}
    child_ops = [op for op in ops if op["run_id"] == child["run_id"]]
    assert {op["node_id"] for op in child_ops} == {"need", "shout"}
    assert {op["parent_run_id"] for op in child_ops} == {parent["run_id"]}

    # the resumed run's outputs are a clean run's
    clean = _json(invoke_cli("workflow", "run", str(demo), "--json"))
    assert {n: r["output"] for n, r in child["nodes"].items()} == {n: r["output"] for n, r in clean["nodes"].items()}
    assert child["nodes"]["start"]["reused_from"] == parent["run_id"]

    # Prefect: the new flow run is tagged with its parent; reused nodes are Completed "Reused" task runs
    flow_run, task_runs = _prefect_flow_run(child["run_id"])
    assert f"parent:{parent['run_id']}" in flow_run.tags
    reused = {t.name for t in task_runs if t.state is not None and t.state.name == "Reused"}
    assert reused == {"start", "aside"}
    assert all(t.state.is_completed() for t in task_runs if t.name in reused)

    # --from NODE: that node and its downstream run again, even after a completed run
    again = _json(invoke_cli("workflow", "resume", clean["run_id"], "--from", "need", "--json"))
    assert again["status"] == "completed"
    assert sorted(again["reused"]) == ["aside", "start"]
    assert again["rerun"] == {"need": "--from need", "shout": "downstream of need"}
    assert {op["node_id"] for op in _ops([again["run_id"]])} == {"need", "shout"}
    assert again["nodes"]["shout"]["output"] == {"text": "HELLO"}


def test_resume_prints_the_run_table_and_refuses_an_unknown_from_node(demo, lh_home):
    parent = _json(invoke_cli("workflow", "run", str(demo), "--json", code=1))
    result = invoke_cli("workflow", "resume", parent["run_id"], code=1)  # the file is still missing
    assert f"resumed from run {parent['run_id']}" in result.stdout
    assert "reused: start, aside" in result.stdout or "reused: aside, start" in result.stdout
    assert "re-ran need: failed" in result.stdout
    assert "missing file: flag.txt" in result.stdout

    result = invoke_cli("workflow", "resume", parent["run_id"], "--from", "shoot", code=1)
    assert "--from 'shoot': no such node in workflow 'resume-demo'" in result.stderr
    assert "did you mean 'shout'" in result.stderr


def test_resume_of_an_unknown_run_exits_1(prefect_server, lh_home):
    result = invoke_cli("workflow", "resume", "no-such-run", code=1)
    assert "error: no record of run 'no-such-run'" in result.stderr
    assert "lakehouse ops list" in result.stderr
