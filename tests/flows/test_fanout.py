"""Fan-out (`for_each`): one run of the node per item, against the real Prefect server."""

from __future__ import annotations

import json
import re

import pytest

from tests.fixtures.cli import invoke_cli
from tests.fixtures.runs import (
    ITEM_OP,
    count_task_runs,
    final_task_runs,
    item_ops,
    max_overlap,
    ops_by_node,
    run_text,
    wait_for,
)

pytestmark = pytest.mark.prefect

GREET = """
name: fanout-greet
inputs:
  people: {type: array, default: [{name: ada}, {name: bob}, {name: cy}]}
nodes:
  - id: greet
    mode: fixture.upper
    for_each: $inputs.people
    with: {text: "$index: $item.name"}
  - id: gather
    mode: fixture.echo
    depends_on: [greet]
    with: {value: $greet.output}
"""


def test_item_outputs_come_back_in_order_with_one_op_and_task_run_per_item(prefect_server, lh_home):
    from prefect.client.orchestration import get_client

    result = run_text(GREET)

    assert result.status == "completed"
    greet = result.nodes["greet"]
    expected = [{"text": "0: ADA"}, {"text": "1: BOB"}, {"text": "2: CY"}]
    assert (greet.status, greet.output) == ("completed", expected)
    assert greet.items == {"completed": 3, "failed": 0, "skipped": 0}
    assert result.nodes["gather"].output == {"value": expected}
    ops = item_ops(result.run_id, "greet")
    assert sorted(ops) == [0, 1, 2]
    # $index and $item.name were resolved per item before the mode saw them
    assert [ops[i]["input"] for i in range(3)] == [{"text": "0: ada"}, {"text": "1: bob"}, {"text": "2: cy"}]
    assert all(op["status"] == "completed" and op["mode"] == "fixture.upper" for op in ops.values())
    with get_client(sync_client=True) as client:
        runs = final_task_runs(client, result.run_id, at_least=4)
    names = {r.name for r in runs}
    assert {"greet[0]", "greet[1]", "greet[2]", "gather"} <= names


def test_a_when_over_item_skips_single_items(prefect_server, lh_home):
    text = """
name: fanout-when
inputs:
  words: {type: array, default: [lakehouse, ok, prefect, duckdb]}
nodes:
  - id: long
    mode: fixture.echo
    for_each: $inputs.words
    when: "len($item) > 2 and $index != 2"
    with: {value: $item}
"""
    result = run_text(text)

    assert result.status == "completed"
    node = result.nodes["long"]
    assert node.status == "completed"
    assert node.output == [{"value": "lakehouse"}, None, None, {"value": "duckdb"}]
    assert node.items == {"completed": 2, "failed": 0, "skipped": 2}
    ops = item_ops(result.run_id, "long")
    assert {i: op["status"] for i, op in ops.items()} == {0: "completed", 1: "skipped", 2: "skipped", 3: "completed"}


@pytest.mark.parametrize(("limit", "items"), [(1, 7), (3, 7), (None, 20)])
def test_max_parallel_bounds_the_items_in_flight(prefect_server, lh_home, limit, items):
    option = f"max_parallel: {limit}" if limit else ""  # None: the default, 8
    text = f"""
name: fanout-parallel
inputs:
  naps: {{type: array, required: true}}
nodes:
  - id: nap
    mode: fixture.sleep
    for_each: $inputs.naps
    {option}
    with: {{seconds: $item}}
"""
    result = run_text(text, {"naps": [0.25] * items})

    assert result.status == "completed"
    ops = item_ops(result.run_id, "nap")
    assert len(ops) == items
    in_flight, bound = max_overlap(list(ops.values())), limit or 8
    assert in_flight <= bound
    if bound > 1:  # the bound is a bound, not serialisation: with room for more, items do overlap
        assert in_flight >= 2


def _paths(tmp_path, names: list[str], present: set[str]) -> list[str]:
    for name in present:
        (tmp_path / name).write_text(name)
    return [str(tmp_path / name) for name in names]


CHECK_FILES = """
name: fanout-files
inputs:
  paths: {type: array, required: true}
nodes:
  - id: check
    mode: fixture.require_file
    for_each: $inputs.paths
    ALLOW
    with: {path: $item}
  - id: after
    mode: fixture.echo
    depends_on: [check]
    with: {value: $check.output}
"""


def test_a_failed_item_fails_the_node_and_skips_its_dependents(prefect_server, lh_home, tmp_path):
    paths = _paths(tmp_path, ["a", "b", "c", "d", "e"], present={"a", "c", "e"})
    result = run_text(CHECK_FILES.replace("ALLOW", ""), {"paths": paths})

    assert result.status == "failed"
    check = result.nodes["check"]
    assert check.status == "failed"
    assert check.items == {"completed": 3, "failed": 2, "skipped": 0}
    assert re.match(rf"^2 of 5 items failed: \[1\] FixtureFailure: missing file: {re.escape(paths[1])}", check.error)
    assert (result.nodes["after"].status, result.nodes["after"].error) == ("skipped", "upstream failed: check")
    ops = item_ops(result.run_id, "check")
    assert {i: op["status"] for i, op in ops.items()} == {
        0: "completed",
        1: "failed",
        2: "completed",
        3: "failed",
        4: "completed",
    }
    assert ops[3]["error"] == f"FixtureFailure: missing file: {paths[3]}"


def test_allow_item_failures_completes_with_none_at_the_failed_positions(prefect_server, lh_home, tmp_path):
    paths = _paths(tmp_path, ["a", "b", "c"], present={"a", "c"})
    result = run_text(CHECK_FILES.replace("ALLOW", "allow_item_failures: true"), {"paths": paths})

    assert result.status == "completed"
    check = result.nodes["check"]
    assert check.status == "completed"
    assert check.items == {"completed": 2, "failed": 1, "skipped": 0}
    assert [o and o["size"] for o in check.output] == [1, None, 1]
    assert result.nodes["after"].output == {"value": check.output}


def test_an_item_whose_reference_fails_is_a_failed_item_with_its_own_task_run(prefect_server, lh_home):
    from prefect.client.orchestration import get_client

    text = """
name: fanout-item-reference
inputs:
  rows: {type: array, default: [{a: 1}, {b: 2}, {a: 3}]}
nodes:
  - {id: each, mode: fixture.echo, for_each: $inputs.rows, with: {value: $item.a}}
  - {id: after, mode: fixture.echo, depends_on: [each], trigger_rule: all_done, with: {value: done}}
"""
    result = run_text(text)

    each = result.nodes["each"]
    error = "ReferenceLookupError: $item.a: $item has no 'a'"
    assert (each.status, each.error) == ("failed", f"1 of 3 items failed: [1] {error}")
    assert each.items == {"completed": 2, "failed": 1, "skipped": 0}
    assert result.nodes["after"].output == {"value": "done"}
    assert item_ops(result.run_id, "each")[1]["error"] == error
    # like a plain node whose reference fails, the item is a Failed task run with the error as message
    with get_client(sync_client=True) as client:
        runs = {r.name: r for r in final_task_runs(client, result.run_id, at_least=4, timeout=20)}
    assert "each[1]" in runs, sorted(runs)
    assert (runs["each[1]"].state.type.value, runs["each[1]"].state.message) == ("FAILED", error)


def test_an_item_whose_when_cannot_be_evaluated_fails_that_item_not_the_run(prefect_server, lh_home):
    text = """
name: fanout-item-when
inputs:
  rows: {type: array, default: [{x: 1}, {y: 2}, {x: 3}]}
nodes:
  - {id: each, mode: fixture.echo, for_each: $inputs.rows, when: "$item.x > 0", with: {value: $index}}
  - {id: other, mode: fixture.echo, with: {value: independent}}
"""
    result = run_text(text)  # a crash of the whole run raises WorkflowCrashed here

    assert result.status == "failed"
    each = result.nodes["each"]
    assert each.status == "failed"
    assert each.error.startswith("1 of 3 items failed: [1] ")
    assert "$item has no 'x'" in each.error
    assert each.output == [{"value": 0}, None, {"value": 2}]
    assert result.nodes["other"].output == {"value": "independent"}


def test_an_empty_list_completes_with_an_empty_output(prefect_server, lh_home):
    result = run_text(CHECK_FILES.replace("ALLOW", ""), {"paths": []})

    assert result.status == "completed"
    check = result.nodes["check"]
    assert (check.status, check.output) == ("completed", [])
    assert check.items == {"completed": 0, "failed": 0, "skipped": 0}
    assert result.nodes["after"].output == {"value": []}
    assert not any(ITEM_OP.match(n) for n in ops_by_node(result.run_id))


def test_a_value_that_is_not_a_list_fails_the_node(prefect_server, lh_home):
    # the producer's output field is typed Any, so only the run can tell that it is not a list
    text = """
name: fanout-not-a-list
nodes:
  - {id: src, mode: fixture.echo, with: {value: "just a string"}}
  - id: each
    mode: fixture.echo
    depends_on: [src]
    for_each: $src.output.value
    with: {value: $item}
  - {id: after, mode: fixture.echo, depends_on: [each], with: {value: 1}}
"""
    result = run_text(text)

    assert result.status == "failed"
    each = result.nodes["each"]
    assert each.status == "failed"
    assert re.search(r"for_each .*is not a list", each.error), each.error
    assert result.nodes["after"].error == "upstream failed: each"


def test_fanout_demo_through_the_cli(prefect_server, lh_home):
    run = json.loads(invoke_cli("workflow", "run", "fanout-demo", "--json").stdout)

    assert run["status"] == "completed"
    nodes = run["nodes"]
    words = ["lakehouse", "prefect", "duckdb", "lance", "map"]
    assert nodes["shout"]["output"] == [{"text": f"{i}: {w.upper()}"} for i, w in enumerate(words)]
    assert nodes["long_words"]["output"] == [{"value": w} if len(w) > 5 else None for w in words]
    assert nodes["long_words"]["items"] == {"completed": 3, "failed": 0, "skipped": 2}
    assert nodes["gather"]["output"]["value"]["shouted"] == nodes["shout"]["output"]


ITEMS = 300


def test_hundreds_of_items_against_the_real_server(prefect_server, lh_home):
    # 300 items, 38 windows of max_parallel (8): 1,000 took 33-55 s on 2 cores, most of it the server
    # ingesting the task runs' events after the flow run ended; bench.workflow_overhead runs 1,000
    from prefect.client.orchestration import get_client

    text = """
name: fanout-hundreds
inputs:
  numbers: {type: array, required: true}
nodes:
  - id: each
    mode: fixture.echo
    for_each: $inputs.numbers
    with: {value: $item}
"""
    result = run_text(text, {"numbers": list(range(ITEMS))})

    assert result.status == "completed"
    each = result.nodes["each"]
    assert each.items == {"completed": ITEMS, "failed": 0, "skipped": 0}
    assert each.output == [{"value": i} for i in range(ITEMS)]
    ops = item_ops(result.run_id, "each")
    assert sorted(ops) == list(range(ITEMS))
    assert all(op["status"] == "completed" for op in ops.values())
    with get_client(sync_client=True) as client:
        # the server ingests task-run events well after the flow run ended: poll one cheap count
        completed = wait_for(
            lambda: count_task_runs(client, result.run_id, state_type="COMPLETED", name_like="each["),
            lambda n: n >= ITEMS,
            timeout=180,
        )
        assert completed == ITEMS
        assert count_task_runs(client, result.run_id, name_like="each[") == ITEMS
        assert client.read_flow_run(result.run_id).state.is_completed()
