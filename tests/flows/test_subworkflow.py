"""Sub-workflows (`workflow: NAME`): a node runs another workflow as a Prefect subflow."""

from __future__ import annotations

import json
import re

import pytest

from tests.fixtures.cli import invoke_cli
from tests.fixtures.runs import final_task_runs, ops_by_node, ops_of, run_text

pytestmark = pytest.mark.prefect

PARENT = """
name: parent-of-hello
inputs:
  who: {type: string, default: "from the parent"}
nodes:
  - id: hello
    workflow: hello-lakehouse
    with: {text: $inputs.who}
  - id: after
    mode: fixture.echo
    depends_on: [hello]
    with: {value: $hello.output.join.value}
"""
HELLO_OUTPUTS = {
    "start": {"value": "from the parent"},
    "shout": {"text": "FROM THE PARENT"},
    "join": {"value": "from the parent -> FROM THE PARENT"},
}


def _child_flow_run(client, parent_run_id: str, node: str):
    """The one flow run whose parent task run is a task run of the parent flow run, checked to
    hang from the node's task run. Prefect 3 files a subflow under a tracking task run it creates in
    the parent flow run (named after the child flow); the subflow is started inside the node's task,
    so that tracking run is the node's own task run or lists it as its parent (`__parents__`)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentTaskRunId

    task_runs = {r.id: r for r in final_task_runs(client, parent_run_id, at_least=3)}
    (child,) = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(parent_task_run_id=FlowRunFilterParentTaskRunId(any_=list(task_runs)))
    )
    (node_run,) = [r for r in task_runs.values() if r.name == node]
    tracking = task_runs[child.parent_task_run_id]
    assert tracking.id == node_run.id or node_run.id in {p.id for p in tracking.task_inputs.get("__parents__", [])}
    return child, node_run


def test_the_node_output_is_the_child_node_outputs(prefect_server, lh_home):
    result = run_text(PARENT)

    assert result.status == "completed"
    hello = result.nodes["hello"]
    assert (hello.status, hello.output) == ("completed", HELLO_OUTPUTS)
    assert result.nodes["after"].output == {"value": "from the parent -> FROM THE PARENT"}
    (op,) = ops_by_node(result.run_id)["hello"]
    assert (op["mode"], op["status"], op["workflow"]) == ("workflow:hello-lakehouse", "completed", "parent-of-hello")


def test_the_child_is_a_subflow_run_of_the_node_task_run(prefect_server, lh_home):
    from prefect.client.orchestration import get_client

    result = run_text(PARENT)

    with get_client(sync_client=True) as client:
        child, _ = _child_flow_run(client, result.run_id, "hello")
        assert client.read_flow(child.flow_id).name == "hello-lakehouse"
        assert child.state.is_completed()
        child_tasks = final_task_runs(client, child.id, at_least=3)
        assert {"start", "shout", "join"} <= {r.name for r in child_tasks}
        assert {r.flow_run_id for r in child_tasks} == {child.id}
    # the child's ops carry its own run id and workflow name; the parent's its own
    child_ops = ops_of(str(child.id))
    assert sorted(op["node_id"] for op in child_ops) == ["join", "shout", "start"]
    assert {op["workflow"] for op in child_ops} == {"hello-lakehouse"}
    assert {op["node_id"] for op in ops_of(result.run_id)} == {"hello", "after"}


def test_a_failing_child_fails_the_node(prefect_server, lh_home):
    from prefect.client.orchestration import get_client

    text = """
name: parent-of-broken
nodes:
  - id: branches
    workflow: fixture-branches
    with: {text: "child input"}
  - {id: after, mode: fixture.echo, depends_on: [branches], with: {value: 1}}
"""
    result = run_text(text)

    assert result.status == "failed"
    node = result.nodes["branches"]
    assert node.status == "failed"
    match = re.fullmatch(
        r"sub-workflow fixture-branches failed: node\(s\) broken failed \(run (?P<run>[0-9a-f-]+)\)", node.error
    )
    assert match, node.error
    assert result.nodes["after"].error == "upstream failed: branches"
    child_run = match["run"]
    assert {op["workflow"] for op in ops_of(child_run)} == {"fixture-branches"}
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(child_run).state.is_failed()
        child, node_run = _child_flow_run(client, result.run_id, "branches")
        assert str(child.id) == child_run
        assert node_run.state.is_failed()
        assert node_run.state.message == node.error


def test_a_child_from_the_users_workflows_gets_references_as_inputs(prefect_server, lh_home):
    folder = lh_home / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "greeter.yaml").write_text(
        """
name: greeter
inputs:
  name: {type: string, required: true}
  times: {type: integer, default: 1}
nodes:
  - {id: greet, mode: fixture.upper, with: {text: "hi $inputs.name x$inputs.times"}}
"""
    )
    text = """
name: parent-of-greeter
nodes:
  - {id: who, mode: fixture.echo, with: {value: ada}}
  - id: sub
    workflow: greeter
    depends_on: [who]
    with: {name: $who.output.value, times: 2}
"""
    result = run_text(text)

    assert result.status == "completed"
    assert result.nodes["sub"].output == {"greet": {"text": "HI ADA X2"}}


def _user_workflow(lh_home, name: str, text: str) -> None:
    folder = lh_home / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(text)


def test_inputs_the_child_refuses_at_run_time_fail_the_node(prefect_server, lh_home):
    _user_workflow(
        lh_home,
        "counter",
        "name: counter\ninputs:\n  times: {type: integer, default: 1}\n"
        "nodes:\n  - {id: echo, mode: fixture.echo, with: {value: $inputs.times}}\n",
    )
    # the value comes from a reference, so only the run can see that it is not an integer
    text = """
name: parent-of-counter
nodes:
  - {id: src, mode: fixture.echo, with: {value: ada}}
  - {id: sub, workflow: counter, depends_on: [src], with: {times: $src.output.value}}
"""
    result = run_text(text)

    sub = result.nodes["sub"]
    assert sub.status == "failed"
    assert re.match(r"^sub-workflow counter: .*inputs\.times: expected integer, got 'ada'", sub.error), sub.error


def test_sub_workflows_nest_and_fan_out(prefect_server, lh_home):
    from prefect.client.orchestration import get_client

    _user_workflow(
        lh_home,
        "middle",
        "name: middle\ninputs:\n  text: {type: string, required: true}\n"
        "nodes:\n  - {id: inner, workflow: hello-lakehouse, with: {text: $inputs.text}}\n",
    )
    text = """
name: parent-of-many
inputs:
  texts: {type: array, default: [a, b, c]}
nodes:
  - id: each
    workflow: middle
    for_each: $inputs.texts
    max_parallel: 2
    with: {text: $item}
"""
    result = run_text(text)

    assert result.status == "completed"
    each = result.nodes["each"]
    assert each.output == [
        {"inner": {"start": {"value": t}, "shout": {"text": t.upper()}, "join": {"value": f"{t} -> {t.upper()}"}}}
        for t in "abc"
    ]
    assert {op["node_id"]: op["mode"] for op in ops_of(result.run_id)} == {
        f"each[{i}]": "workflow:middle" for i in range(3)
    }
    with get_client(sync_client=True) as client:
        task_runs = final_task_runs(client, result.run_id, at_least=6)
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentTaskRunId

        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_task_run_id=FlowRunFilterParentTaskRunId(any_=[r.id for r in task_runs])
            )
        )
        assert sorted(client.read_flow(c.flow_id).name for c in children) == ["middle"] * 3


def test_subworkflow_demo_through_the_cli(prefect_server, lh_home):
    run = json.loads(invoke_cli("workflow", "run", "subworkflow-demo", "--input", "text=hi", "--json").stdout)

    assert run["status"] == "completed"
    assert run["nodes"]["hello"]["output"]["join"] == {"value": "hi -> HI"}
    assert run["nodes"]["report"]["output"] == {"value": "the child said: hi -> HI"}
