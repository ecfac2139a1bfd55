"""Loops (`loop: {until, max_iterations, on_limit}`): a node repeats until its output meets `until`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fixtures.cli import invoke_cli
from tests.fixtures.runs import final_task_runs, iteration_ops, run_text

pytestmark = pytest.mark.prefect

# Each iteration echoes its number and the previous iteration's output, so the ops show both.
POLL = """
name: loop-poll
inputs:
  target: {type: integer, default: 3}
nodes:
  - id: poll
    mode: fixture.echo
    loop: {until: "$poll.output.value.n >= $inputs.target", max_iterations: MAX, ON_LIMIT}
    with:
      value: {n: $iteration, previous: $previous}
  - id: after
    mode: fixture.echo
    depends_on: [poll]
    with: {value: $poll.output.value.n}
"""


def _poll(max_iterations: int = 5, on_limit: str = "fail") -> str:
    return POLL.replace("MAX", str(max_iterations)).replace("ON_LIMIT", f"on_limit: {on_limit}")


def _outputs(count: int) -> list[dict]:
    """What iterations 1..count output: each carries the one before it."""
    outputs: list[dict] = []
    previous: dict[str, Any] | None = None
    for n in range(1, count + 1):
        previous = {"value": {"n": n, "previous": previous}}
        outputs.append(previous)
    return outputs


def test_until_is_met_after_k_iterations(prefect_server, lh_home):
    from prefect.client.orchestration import get_client

    result = run_text(_poll())

    assert result.status == "completed"
    poll = result.nodes["poll"]
    expected = _outputs(3)
    assert (poll.status, poll.iterations, poll.output) == ("completed", 3, expected[-1])
    assert result.nodes["after"].output == {"value": 3}
    ops = iteration_ops(result.run_id, "poll")
    assert sorted(ops) == [1, 2, 3]
    assert all(len(o) == 1 and o[0]["status"] == "completed" for o in ops.values())
    # $iteration and $previous as each iteration saw them (previous is null the first time)
    assert [ops[k][0]["input"] for k in (1, 2, 3)] == [
        {"value": {"n": 1, "previous": None}},
        {"value": {"n": 2, "previous": expected[0]}},
        {"value": {"n": 3, "previous": expected[1]}},
    ]
    with get_client(sync_client=True) as client:
        names = {r.name for r in final_task_runs(client, result.run_id, at_least=4)}
    assert {"poll#1", "poll#2", "poll#3", "after"} <= names


def test_until_met_on_the_first_iteration(prefect_server, lh_home):
    result = run_text(_poll(), {"target": 1})

    assert (result.nodes["poll"].iterations, result.nodes["poll"].output) == (1, _outputs(1)[0])
    assert sorted(iteration_ops(result.run_id, "poll")) == [1]


def test_reaching_the_limit_fails_the_node(prefect_server, lh_home):
    result = run_text(_poll(max_iterations=4), {"target": 100})

    assert result.status == "failed"
    poll = result.nodes["poll"]
    assert poll.status == "failed"
    assert poll.error == "loop did not meet `until` after 4 iterations: $poll.output.value.n >= $inputs.target"
    assert poll.iterations == 4
    assert result.nodes["after"].error == "upstream failed: poll"
    ops = iteration_ops(result.run_id, "poll")
    assert sorted(ops) == [1, 2, 3, 4]
    assert all(o[0]["status"] == "completed" for o in ops.values())  # each iteration itself worked


def test_on_limit_complete_completes_with_the_last_output(prefect_server, lh_home):
    result = run_text(_poll(max_iterations=4, on_limit="complete"), {"target": 100})

    assert result.status == "completed"
    poll = result.nodes["poll"]
    assert (poll.status, poll.iterations, poll.output) == ("completed", 4, _outputs(4)[-1])
    assert result.nodes["after"].output == {"value": 4}


def test_a_failed_iteration_fails_the_node(prefect_server, lh_home):
    text = """
name: loop-fail
nodes:
  - id: poll
    mode: fixture.fail
    loop: {until: "true", max_iterations: 3}
    with: {message: "failed on try $iteration"}
  - {id: after, mode: fixture.echo, depends_on: [poll], with: {value: 1}}
"""
    result = run_text(text)

    assert result.status == "failed"
    poll = result.nodes["poll"]
    assert poll.status == "failed"
    assert poll.error == "iteration 1: FixtureFailure: failed on try 1"
    assert result.nodes["after"].error == "upstream failed: poll"
    ops = iteration_ops(result.run_id, "poll")
    assert {k: [op["status"] for op in o] for k, o in ops.items()} == {1: ["failed"]}


def test_an_iteration_whose_reference_fails_fails_the_node_with_its_own_task_run(prefect_server, lh_home):
    from prefect.client.orchestration import get_client

    # `$previous.value.n` is null on the first iteration (no previous output); on the second the
    # previous output is {value: null}, which has no `n`
    text = """
name: loop-reference
nodes:
  - id: poll
    mode: fixture.echo
    loop: {until: "$poll.output.value == 5", max_iterations: 3}
    with: {value: $previous.value.n}
"""
    result = run_text(text)

    poll = result.nodes["poll"]
    assert (poll.status, poll.iterations) == ("failed", 2)
    error = "ReferenceLookupError: $previous.value.n: $previous.value has no 'n'"
    assert poll.error.endswith(error), poll.error
    ops = iteration_ops(result.run_id, "poll")
    assert {k: [o["status"] for o in v] for k, v in ops.items()} == {1: ["completed"], 2: ["failed"]}
    assert ops[1][0]["input"] == {"value": None}
    # like a plain node whose reference fails, the iteration is a Failed task run with the error as message
    with get_client(sync_client=True) as client:
        runs = {r.name: r for r in final_task_runs(client, result.run_id, at_least=2, timeout=20)}
    assert "poll#2" in runs, sorted(runs)
    assert runs["poll#2"].state.type.value == "FAILED"
    assert runs["poll#2"].state.message.endswith(error)


def test_loop_demo_through_the_cli(prefect_server, lh_home):
    run = json.loads(invoke_cli("workflow", "run", "loop-demo", "--json").stdout)

    assert run["status"] == "completed"
    nodes = run["nodes"]
    assert (nodes["poll"]["iterations"], nodes["poll"]["output"]["value"]["n"]) == (3, 3)
    assert (nodes["capped"]["iterations"], nodes["capped"]["output"]) == (3, {"value": 3})
    assert nodes["report"]["output"] == {"value": "poll met its target at 3; capped stopped at 3"}
