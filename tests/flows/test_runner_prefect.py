"""Workflows run as real Prefect flows against a real Prefect server (session fixture)."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.loader import load_workflow, load_workflow_text
from flows.runner import current_lakehouse, run_workflow

pytestmark = pytest.mark.prefect
ROOT = Path(__file__).parents[2]


def _ops(run_id: str) -> list[dict]:
    return current_lakehouse().observer.ops(run_id=run_id)


def _wait_for(fetch, ready, timeout: float = 60.0):
    """Prefect records task runs from events, asynchronously: poll until they are all there."""
    deadline = time.monotonic() + timeout
    value = fetch()
    while not ready(value) and time.monotonic() < deadline:
        time.sleep(0.5)
        value = fetch()
    return value


def test_failing_branch_semantics_through_the_cli(prefect_server, lh_home):
    result = CliRunner().invoke(app, ["workflow", "run", "fixture-branches", "--json"])
    assert result.exit_code == 1, result.output
    run = json.loads(result.stdout)
    nodes = run["nodes"]
    assert run["status"] == "failed"
    assert nodes["broken"]["status"] == "failed"
    assert nodes["broken"]["attempts"] == 2
    assert "intentional failure in the broken branch" in nodes["broken"]["error"]
    assert nodes["after_broken"] == {
        "status": "skipped",
        "output": None,
        "error": "upstream failed: broken",
        "attempts": 0,
    }
    assert nodes["shout"]["output"] == {"text": "HELLO LAKEHOUSE"}
    assert nodes["join"]["status"] == "completed"
    assert nodes["join"]["output"]["value"]["shout"] == "HELLO LAKEHOUSE"

    ops = _ops(run["run_id"])
    per_node = {}
    for op in ops:
        per_node.setdefault(op["node_id"], []).append((op["attempt"], op["status"]))
    assert per_node == {
        "start": [(1, "completed")],
        "shout": [(1, "completed")],
        "pause": [(1, "completed")],
        "broken": [(1, "failed"), (2, "failed")],
        "after_broken": [(0, "skipped")],
        "join": [(1, "completed")],
    }
    assert all(op["source"] == "workflow" and op["workflow"] == "fixture-branches" for op in ops)


def test_flow_and_task_runs_are_read_back_from_prefect(prefect_server, lh_home):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
    )

    loaded = load_workflow("hello-lakehouse")
    result = run_workflow(loaded, {"text": "read me back"})
    assert result.status == "completed"
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(result.run_id)
        assert flow_run.state.is_completed()
        assert client.read_flow(flow_run.flow_id).name == "hello-lakehouse"
        only_this_run = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id]))
        task_runs = _wait_for(
            lambda: client.read_task_runs(flow_run_filter=only_this_run),
            lambda runs: len(runs) >= 3 and all(r.state and r.state.is_final() for r in runs),
        )
        assert sorted(r.name for r in task_runs) == ["join", "shout", "start"]
        assert all(r.state.is_completed() for r in task_runs)
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id]))
        )
        assert [a.key for a in artifacts] == ["ops-hello-lakehouse"]
        assert "join" in json.dumps(artifacts[0].data)


def test_a_failed_run_is_failed_in_prefect(prefect_server, lh_home):
    from prefect.client.orchestration import get_client

    result = run_workflow(load_workflow("fixture-branches"))
    assert result.status == "failed"
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(result.run_id).state
    assert state.is_failed()
    assert "broken" in state.message


def test_independent_nodes_overlap_in_time(prefect_server, lh_home):
    text = """
name: fan-out
nodes:
  - {id: root, mode: fixture.echo, with: {value: 1}}
  - {id: left, mode: fixture.sleep, depends_on: [root], with: {seconds: 0.6}}
  - {id: right, mode: fixture.sleep, depends_on: [root], with: {seconds: 0.6}}
  - {id: join, mode: fixture.echo, depends_on: [left, right], with: {value: [$left.output.slept, $right.output.slept]}}
"""
    result = run_workflow(load_workflow_text(text, "fan-out.yaml", {}))
    assert result.status == "completed"
    ops = {op["node_id"]: op for op in _ops(result.run_id)}
    span = lambda op: (datetime.fromisoformat(op["ts_start"]), datetime.fromisoformat(op["ts_end"]))  # noqa: E731
    (l0, l1), (r0, r1), (j0, _) = span(ops["left"]), span(ops["right"]), span(ops["join"])
    assert l0 < r1 and r0 < l1, "left and right did not run concurrently"
    assert j0 >= max(l1, r1), "join started before its dependencies finished"


def test_when_false_skips_the_node_and_its_dependents_unless_they_opt_in(prefect_server, lh_home):
    text = """
name: when-false
inputs:
  go: {type: boolean, default: false}
nodes:
  - {id: gate, mode: fixture.echo, when: "$inputs.go", with: {value: 1}}
  - {id: after, mode: fixture.echo, depends_on: [gate], with: {value: 2}}
  - {id: anyway, mode: fixture.echo, depends_on: [gate], on_upstream_skip: run, with: {value: 3}}
"""
    result = run_workflow(load_workflow_text(text, "when-false.yaml", {}))
    assert result.status == "completed"
    assert result.nodes["gate"].status == "skipped"
    assert result.nodes["gate"].error == "when is false: $inputs.go"
    assert result.nodes["after"].error == "upstream skipped: gate"
    assert result.nodes["anyway"].output == {"value": 3}


def test_timeout_fails_the_node(prefect_server, lh_home):
    text = """
name: too-slow
nodes:
  - {id: slow, mode: fixture.sleep, timeout_s: 0.5, with: {seconds: 30}}
  - {id: after, mode: fixture.echo, depends_on: [slow], with: {value: 1}}
"""
    result = run_workflow(load_workflow_text(text, "too-slow.yaml", {}))
    assert result.status == "failed"
    assert result.nodes["slow"].status == "failed"
    assert "timed out" in result.nodes["slow"].error.lower() or "timeout" in result.nodes["slow"].error.lower()
    assert result.nodes["after"].error == "upstream failed: slow"
    (op,) = [o for o in _ops(result.run_id) if o["node_id"] == "slow"]
    assert op["status"] == "failed" and op["duration_ms"] < 30_000


def test_run_time_reference_error_fails_the_node_not_the_flow(prefect_server, lh_home):
    text = """
name: runtime-ref
nodes:
  - {id: a, mode: fixture.echo, with: {value: {}}}
  - {id: b, mode: fixture.upper, depends_on: [a], with: {text: $a.output.value.missing}}
"""
    result = run_workflow(load_workflow_text(text, "runtime-ref.yaml", {}))
    assert result.status == "failed"
    assert "has no 'missing'" in result.nodes["b"].error
