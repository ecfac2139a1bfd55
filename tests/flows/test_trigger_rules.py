"""Trigger rules: whether a node runs given how its dependencies ended (completed, failed, skipped)."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.cli import invoke_cli
from tests.fixtures.runs import final_task_runs, ops_by_node, run_text

pytestmark = pytest.mark.prefect

# Three upstream nodes, one per outcome, and below them one node per (rule, dependencies) case.
UPSTREAM = """
name: trigger-rules
inputs:
  go: {type: boolean, default: false}
nodes:
  - {id: ok, mode: fixture.echo, with: {value: 1}}
  - {id: bad, mode: fixture.fail, with: {message: boom}}
  - {id: idle, mode: fixture.echo, when: "$inputs.go", with: {value: 2}}
"""

# id: (trigger_rule or None for the default, depends_on, extra keys, expected (status, error))
CASES: dict[str, tuple[str | None, list[str], str, tuple[str, str | None]]] = {
    "default_ok": (None, ["ok"], "", ("completed", None)),
    "default_failed": (None, ["ok", "bad"], "", ("skipped", "upstream failed: bad")),
    "default_skipped": (None, ["ok", "idle"], "", ("skipped", "upstream skipped: idle")),
    "default_both": (None, ["bad", "idle"], "", ("skipped", "upstream failed: bad")),
    "default_skipped_opt_in": (None, ["ok", "idle"], "on_upstream_skip: run", ("completed", None)),
    "success_failed": ("all_success", ["ok", "bad"], "", ("skipped", "upstream failed: bad")),
    "success_skipped": ("all_success", ["ok", "idle"], "", ("skipped", "upstream skipped: idle")),
    "done_all": ("all_done", ["ok", "bad", "idle"], "", ("completed", None)),
    "done_failed_only": ("all_done", ["bad"], "", ("completed", None)),
    "done_skipped_only": ("all_done", ["idle"], "", ("completed", None)),
    "one_with_ok": ("one_success", ["ok", "bad", "idle"], "", ("completed", None)),
    "one_without_ok": ("one_success", ["bad", "idle"], "", ("skipped", "no upstream completed: bad, idle")),
    "one_failed_only": ("one_success", ["bad"], "", ("skipped", "no upstream completed: bad")),
    "none_failed_skipped": ("none_failed", ["ok", "idle"], "", ("completed", None)),
    "none_failed_skipped_only": ("none_failed", ["idle"], "", ("completed", None)),
    "none_failed_failed": ("none_failed", ["ok", "bad", "idle"], "", ("skipped", "upstream failed: bad")),
}


def _workflow() -> str:
    lines = [UPSTREAM.rstrip()]
    for node_id, (rule, deps, extra, _) in CASES.items():
        keys = [
            f"id: {node_id}",
            "mode: fixture.echo",
            f"depends_on: [{', '.join(deps)}]",
            f"with: {{value: {node_id}}}",
        ]
        if rule:
            keys.append(f"trigger_rule: {rule}")
        if extra:
            keys.append(extra)
        lines.append("  - {" + ", ".join(keys) + "}")
    return "\n".join(lines) + "\n"


def test_each_rule_with_completed_failed_and_skipped_upstreams(prefect_server, lh_home):
    result = run_text(_workflow())

    assert result.status == "failed"  # `bad` failed, whatever ran after it
    assert (result.nodes["bad"].status, result.nodes["idle"].status) == ("failed", "skipped")
    got = {n: (result.nodes[n].status, result.nodes[n].error) for n in CASES}
    assert got == {n: case[3] for n, case in CASES.items()}
    for node_id, (_, _, _, (status, _)) in CASES.items():
        if status == "completed":
            assert result.nodes[node_id].output == {"value": node_id}
    # every skip is an op with the reason, every run one completed op
    ops = ops_by_node(result.run_id)
    got_ops = {n: [(op["status"], op["error"]) for op in ops[n]] for n in CASES}
    assert got_ops == {n: [case[3]] for n, case in CASES.items()}


def test_a_rule_skip_is_a_skipped_task_run_in_prefect(prefect_server, lh_home):
    from prefect.client.orchestration import get_client

    text = (
        UPSTREAM
        + """
  - {id: either, mode: fixture.echo, depends_on: [bad, idle], trigger_rule: one_success, with: {value: 3}}
  - {id: finally, mode: fixture.echo, depends_on: [bad, idle], trigger_rule: all_done, with: {value: 4}}
"""
    )
    result = run_text(text)

    assert result.nodes["either"].error == "no upstream completed: bad, idle"
    assert result.nodes["finally"].status == "completed"
    with get_client(sync_client=True) as client:
        runs = {r.name: r for r in final_task_runs(client, result.run_id, at_least=5)}
    either = runs["either"].state
    assert (either.type.value, either.name, either.message) == (
        "COMPLETED",
        "Skipped",
        "no upstream completed: bad, idle",
    )
    assert runs["finally"].state.name == "Completed"
    # the edges are there whatever the rule decided: one upstream input per dependency
    upstream = {
        str(i.id)
        for key, inputs in runs["finally"].task_inputs.items()
        if key != "__parents__"
        for i in inputs
        if i.input_type == "task_run"
    }
    assert upstream == {str(runs[n].id) for n in ("bad", "idle")}


@pytest.mark.parametrize(
    ("fail", "code", "expected"),
    [
        (
            "false",
            0,
            {
                "risky": ("skipped", "when is false: $inputs.fail == true"),
                "strict": ("skipped", "upstream skipped: risky"),
                "cleanup": ("completed", None),
                "any_result": ("completed", None),
                "no_failures": ("completed", None),
            },
        ),
        (
            "true",
            1,
            {
                "risky": ("failed", "FixtureFailure: intentional failure in risky"),
                "strict": ("skipped", "upstream failed: risky"),
                "cleanup": ("completed", None),
                "any_result": ("completed", None),
                "no_failures": ("skipped", "upstream failed: risky"),
            },
        ),
    ],
)
def test_trigger_rules_demo_through_the_cli(prefect_server, lh_home, fail, code, expected):
    out = invoke_cli("workflow", "run", "trigger-rules-demo", "--input", f"fail={fail}", "--json", code=code)
    run = json.loads(out.stdout)

    assert run["status"] == ("failed" if code else "completed")
    nodes = run["nodes"]
    assert {n: (nodes[n]["status"], nodes[n]["error"]) for n in expected} == expected
    assert nodes["any_result"]["output"] == {"value": "at least one dependency completed: steady"}
