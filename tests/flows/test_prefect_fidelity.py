"""What Prefect shows of a workflow run is the workflow: read back from the real Prefect server, every
`depends_on` edge is an upstream input of the child's task run, skipped nodes are task runs in a
"Skipped" state with the reason, and a failed node's state carries the mode's error, not a traceback."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

import networkx as nx
import pytest

from flows.loader import load_workflow
from flows.runner import run_workflow

pytestmark = pytest.mark.prefect

EDGES = {
    ("start", "shout"),
    ("start", "pause"),
    ("start", "broken"),
    ("broken", "after_broken"),
    ("shout", "join"),
    ("pause", "join"),
}
NODES = {"start", "shout", "pause", "broken", "after_broken", "join"}


def _task_runs(flow_run_id: str, expected: set[str]) -> dict[str, Any]:
    """The flow run's task runs by name, once all of `expected` are there in a final state. Prefect
    writes task runs from events, so they may land a moment after the flow returns: poll, a bounded
    number of times."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    only_this_run = FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)]))
    with get_client(sync_client=True) as client:
        for _ in range(300):
            runs = client.read_task_runs(flow_run_filter=only_this_run)
            names = [r.name for r in runs]
            if set(names) >= expected and all(r.state is not None and r.state.is_final() for r in runs):
                assert len(names) == len(set(names)), f"one task run per node expected, got {sorted(names)}"
                return {r.name: r for r in runs}
            time.sleep(0.1)
    pytest.fail(f"task runs never all reached the server in a final state: {sorted(names)} of {sorted(expected)}")


def _upstream(run: Any, key: str | None = None) -> set[str]:
    """Ids of the task runs among this one's inputs (TaskRunResults): those under `key`, or all."""
    return {
        str(item.id)
        for name, inputs in run.task_inputs.items()
        if key is None or name == key
        for item in inputs
        if item.input_type == "task_run"
    }


def _assert_the_graph_is_the_workflows(runs: dict[str, Any]) -> None:
    """`wait_for` holds exactly the node's `depends_on`; any other upstream (a payload that came from a
    node's output) is one of its ancestors."""
    name_of = {str(run.id): name for name, run in runs.items()}
    waits = {(name_of[up], name) for name, run in runs.items() for up in _upstream(run, "wait_for")}
    assert waits == EDGES
    loaded = load_workflow("fixture-branches")
    for name, run in runs.items():
        assert {name_of[up] for up in _upstream(run)} <= nx.ancestors(loaded.graph, name), name


def test_the_workflow_file_declares_the_edges_this_test_expects():
    loaded = load_workflow("fixture-branches")
    assert set(loaded.graph.edges) == EDGES and set(loaded.graph.nodes) == NODES


def test_a_failed_branch_as_prefect_records_it(prefect_server, lh_home):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType

    result = run_workflow(load_workflow("fixture-branches"))
    assert result.status == "failed"
    runs = _task_runs(result.run_id, NODES)
    _assert_the_graph_is_the_workflows(runs)

    broken = runs["broken"].state
    assert broken.type == StateType.FAILED and broken.name == "Failed"
    assert "intentional failure in the broken branch" in broken.message
    assert "Traceback" not in broken.message
    assert broken.message == result.nodes["broken"].error

    skipped = runs["after_broken"].state
    assert (skipped.type, skipped.name, skipped.message) == (StateType.COMPLETED, "Skipped", "upstream failed: broken")

    for name in ("start", "shout", "pause", "join"):
        assert runs[name].state.type == StateType.COMPLETED and runs[name].state.name == "Completed", name

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(result.run_id)
        assert client.read_flow(flow_run.flow_id).name == "fixture-branches"
    assert flow_run.state.is_failed()


def test_a_branch_skipped_by_when_as_prefect_records_it(prefect_server, lh_home):
    from prefect.client.schemas.objects import StateType

    result = run_workflow(load_workflow("fixture-branches"), {"fail": False})
    assert result.status == "completed"
    runs = _task_runs(result.run_id, NODES)
    _assert_the_graph_is_the_workflows(runs)

    broken = runs["broken"].state
    assert (broken.type, broken.name, broken.message) == (
        StateType.COMPLETED,
        "Skipped",
        "when is false: $inputs.fail == true",
    )
    after = runs["after_broken"].state
    assert (after.type, after.name, after.message) == (StateType.COMPLETED, "Skipped", "upstream skipped: broken")
    assert runs["join"].state.name == "Completed"
