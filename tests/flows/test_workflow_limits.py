"""Issue 9 (defects 3 and 4): parsing, checks and reference rendering are bounded.

A hostile workflow is one clear `FILE:NODE: field: message` issue, in-process, from the CLI and over
HTTP (4xx, and the server answers the next request): never a crash, a 500, minutes of work or
megabytes of output. Cases that crashed the process (libyaml's C composer recursing 50,000 deep) or
never finished (a billion laughs) run in a child process with a timeout, so the old behaviour is a
test failure, not a dead pytest. The one-file-per-case scenarios are in tests/workflows/invalid/.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import networkx as nx
import pytest

from flows.checks import find_cycles
from flows.loader import WorkflowError, load_workflow, load_workflow_text
from lakehouse.config import reset_settings

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------ texts
def deep_block(depth: int) -> str:
    """Nested block sequences, `- - - … x`: block style, 2 bytes a level."""
    return (
        "name: deep\nnodes:\n  - id: a\n    mode: fixture.echo\n    with:\n      value:\n        "
        + "- " * depth
        + "x\n"
    )


def deep_flow(depth: int) -> str:
    return "name: deep\nnodes:\n  - {id: a, mode: fixture.echo, with: {value: " + "[" * depth + "]" * depth + "}}\n"


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    """The classic: 9 anchors of 9 aliases each stand for 9^9 (387 million) strings."""
    lines = [
        "name: lol",
        "nodes:",
        "  - id: a",
        "    mode: fixture.echo",
        "    with:",
        "      value:",
        "        - &l0 lol",
    ]
    lines += [f"        - &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def dense(n: int, cyclic: bool = True) -> str:
    """n nodes that all depend on each other (cyclic) or on every earlier node (a dense DAG)."""
    ids = [f"n{i:03d}" for i in range(n)]
    rows = []
    for k, node in enumerate(ids):
        deps = [d for d in ids if d != node] if cyclic else ids[:k]
        rows.append(f"  - {{id: {node}, mode: fixture.echo, depends_on: [{', '.join(deps)}], with: {{value: {k}}}}}\n")
    return f"name: dense-{n}\nnodes:\n" + "".join(rows)


DEPTH = r"YAML nested deeper than 64 levels at line \d+, column \d+ \(setting workflow_max_depth\)"
VALUES = r"the YAML holds more than 100,000 values, aliases expanded, at line \d+, column \d+"

ISOLATED = {
    "block-1000": (deep_block(1_000), DEPTH),
    "block-50000": (deep_block(50_000), DEPTH),
    "flow-50000": (deep_flow(50_000), DEPTH),
    "flow-mapping-50000": ("name: x\nnodes: " + "{k: " * 50_000 + "1" + "}" * 50_000 + "\n", DEPTH),
    "billion-laughs": (billion_laughs(), VALUES),
}

_CHILD = r"""
import json, sys
from flows.loader import WorkflowError, load_workflow_text
for name, text in json.loads(sys.stdin.read()).items():
    try:
        load_workflow_text(text, name + ".yaml")
        result = "valid"
    except WorkflowError as exc:
        result = [str(issue) for issue in exc.issues]
    print(json.dumps({name: result}), flush=True)
"""


@pytest.fixture(scope="module")
def isolated_results() -> dict:
    """Each text checked in a child process: a segfault or a hang there fails the tests below."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LH_")}
    env.update(LH_HOME=os.environ["LH_HOME"], LH_CONFIG=os.environ["LH_CONFIG"])
    texts = {name: text for name, (text, _) in ISOLATED.items()}
    returncode: int | str
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD],
            input=json.dumps(texts),
            capture_output=True,
            check=False,
            text=True,
            cwd=REPO,
            env=env,
            timeout=180,
        )
        returncode, stdout = proc.returncode, proc.stdout
    except subprocess.TimeoutExpired as exc:
        returncode, stdout = "timeout", exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
    results: dict = {}
    for line in stdout.splitlines():
        results.update(json.loads(line))
    results["__returncode__"] = returncode
    return results


@pytest.mark.parametrize("name", sorted(ISOLATED))
def test_hostile_yaml_is_one_clear_issue_in_a_child_process(isolated_results, name):
    assert name in isolated_results, f"the child died before answering (exit {isolated_results['__returncode__']})"
    issues = isolated_results[name]
    assert issues != "valid"
    assert len(issues) == 1, issues
    assert issues[0].startswith(f"{name}.yaml:-: "), issues
    assert re.search(ISOLATED[name][1], issues[0]), issues


def test_the_child_process_exits_cleanly(isolated_results):
    assert isolated_results["__returncode__"] == 0


# ------------------------------------------------------------------------------------ in-process
def test_deep_yaml_in_process_names_line_and_limit():
    for text in (deep_block(1_000), deep_flow(1_000)):
        with pytest.raises(WorkflowError, match=DEPTH) as info:
            load_workflow_text(text, "deep.yaml")
        assert len(info.value.issues) == 1 and str(info.value).startswith("deep.yaml:-: ")


def test_depth_at_the_limit_is_fine():
    # the top mapping, nodes, the node and `with` are 4 levels: the value may nest 60 more
    text = "name: ok\nnodes:\n  - {id: a, mode: fixture.echo, with: {value: " + "[" * 60 + "]" * 60 + "}}\n"
    assert load_workflow_text(text, "ok.yaml").name == "ok"
    with pytest.raises(WorkflowError, match="nested deeper than 64 levels at line 3"):
        load_workflow_text(text.replace("[" * 60, "[" * 61).replace("]" * 60, "]" * 61), "deeper.yaml")


def test_anchors_and_a_few_aliases_still_work():
    text = (
        "name: anchors\nnodes:\n  - {id: a, mode: fixture.echo, with: {value: &v {x: [1, 2]}}}\n"
        "  - {id: b, mode: fixture.echo, depends_on: [a], with: {value: [*v, *v]}}\n"
    )
    loaded = load_workflow_text(text, "anchors.yaml")
    assert loaded.nodes["b"].with_["value"] == [{"x": [1, 2]}, {"x": [1, 2]}]


def test_file_size_is_checked_before_reading(tmp_path, monkeypatch, lh_home):
    monkeypatch.setenv("LH_WORKFLOW_MAX_BYTES", "1000")
    reset_settings()
    path = tmp_path / "big.yaml"
    path.write_text("name: big\nnodes:\n  - {id: a, mode: fixture.echo, with: {value: '" + "x" * 1000 + "'}}\n")
    with pytest.raises(
        WorkflowError,
        match=r"big.yaml:-: the workflow file is larger than the limit of 1,000 bytes "
        r"\(setting workflow_max_bytes\)",
    ):
        load_workflow(path)
    # counted in bytes, not characters: 600 two-byte characters are 1,200 bytes
    with pytest.raises(WorkflowError, match="larger than the limit of 1,000 bytes"):
        load_workflow_text("name: x\ndescription: " + "é" * 600 + "\n", "text.yaml")


def test_node_count_and_value_count_limits(monkeypatch, lh_home):
    monkeypatch.setenv("LH_WORKFLOW_MAX_NODES", "3")
    monkeypatch.setenv("LH_WORKFLOW_MAX_VALUES", "200")
    reset_settings()
    many = "name: many\nnodes:\n" + "".join(f"  - {{id: n{i}, mode: fixture.echo}}\n" for i in range(4))
    with pytest.raises(
        WorkflowError,
        match=r"many.yaml:-: nodes: the workflow has 4 nodes, more than the limit of 3 "
        r"\(setting workflow_max_nodes\)",
    ):
        load_workflow_text(many, "many.yaml")
    big = "name: big\nnodes:\n  - {id: a, mode: fixture.echo, with: {value: [" + ", ".join(["1"] * 300) + "]}}\n"
    with pytest.raises(WorkflowError, match="holds more than 200 values"):
        load_workflow_text(big, "big.yaml")


def test_messages_never_echo_megabytes():
    text = "name: long\nnodes:\n  - {id: nap, mode: fixture.sleep, with: {seconds: '" + "x" * 100_000 + "'}}\n"
    with pytest.raises(WorkflowError) as info:
        load_workflow_text(text, "long.yaml")
    message = str(info.value)
    assert "nap: with.seconds: Input should be a valid number" in message
    assert "(100,002 characters)" in message and len(message) < 500


def test_deep_and_self_containing_inputs_are_refused():
    text = "name: inp\ninputs:\n  x: {type: any}\nnodes:\n  - {id: a, mode: fixture.echo, with: {value: $inputs.x}}\n"
    deep: list = []
    for _ in range(100_000):  # built iteratively; the old loader's json.dumps recursed on it
        deep = [deep]
    with pytest.raises(WorkflowError, match=r"inp.yaml:-: inputs.x: is nested deeper than 64 levels"):
        load_workflow_text(text, "inp.yaml", {"x": deep})
    loop: list = []
    loop.append(loop)
    with pytest.raises(WorkflowError, match="inputs.x: is nested deeper than 64 levels"):
        load_workflow_text(text, "inp.yaml", {"x": loop})
    assert load_workflow_text(text, "inp.yaml", {"x": [[1], {"a": [2]}]}).inputs == {"x": [[1], {"a": [2]}]}


# ------------------------------------------------------------------------------------ graph checks
def _cycle_issues(exc: WorkflowError) -> list[str]:
    return [i.message for i in exc.issues if i.field == "depends_on" and i.message.startswith("cycle:")]


@pytest.mark.parametrize("n", [11, 200])
def test_dense_cyclic_workflow_reports_one_cycle(n):
    text = dense(n)
    with pytest.raises(WorkflowError) as info:
        load_workflow_text(text, f"dense-{n}.yaml")
    # every node is in one strongly connected component: one cycle, the shortest through n000
    assert _cycle_issues(info.value) == ["cycle: n000 -> n001 -> n000"]
    assert len(info.value.issues) == 1


def test_dense_dag_validates():
    loaded = load_workflow_text(dense(200, cyclic=False), "dag.yaml")
    assert loaded.layers == [[f"n{i:03d}"] for i in range(200)]
    assert len(loaded.graph.edges) == 200 * 199 // 2


def test_cycles_reported_are_bounded_by_the_components():
    graph = nx.complete_graph(12, create_using=nx.DiGraph)  # ~10^8 simple cycles
    graph = nx.relabel_nodes(graph, {i: f"c{i:02d}" for i in graph})
    graph.add_edges_from([("x", "y"), ("y", "x"), ("self", "self"), ("x", "tail")])
    cycles = find_cycles(graph)
    cyclic_components = [
        c for c in nx.strongly_connected_components(graph) if len(c) > 1 or any(graph.has_edge(n, n) for n in c)
    ]
    assert len(cycles) == len(cyclic_components) == 3
    assert cycles == [["c00", "c01"], ["self"], ["x", "y"]]
    for cycle in cycles:  # each is a real cycle of the graph
        assert all(graph.has_edge(a, b) for a, b in zip(cycle, cycle[1:] + cycle[:1], strict=False))


def test_several_cycles_are_each_reported(tmp_path):
    text = (
        "name: cycles\nnodes:\n"
        "  - {id: a, mode: fixture.echo, depends_on: [b]}\n  - {id: b, mode: fixture.echo, depends_on: [a]}\n"
        "  - {id: c, mode: fixture.echo, depends_on: [c]}\n  - {id: d, mode: fixture.echo, depends_on: [a]}\n"
    )
    with pytest.raises(WorkflowError) as info:
        load_workflow_text(text, "cycles.yaml")
    assert _cycle_issues(info.value) == ["cycle: a -> b -> a", "cycle: c -> c"]


# ------------------------------------------------------------------------------------ amplification
def doubling_chain(nodes: int, repeat: int = 2) -> str:
    """Each node renders its upstream's output `repeat` times into a string (JSON, escaped again
    each step): the input grows geometrically from a few bytes of workflow."""
    ref = "$n{k}.output"
    rows = ["  - {id: n0, mode: fixture.echo, with: {value: 'a \"quoted\" seed'}}\n"]
    for k in range(1, nodes):
        text = " ".join([ref.format(k=k - 1)] * repeat)
        rows.append(f'  - {{id: n{k}, mode: fixture.echo, depends_on: [n{k - 1}], with: {{value: "{text}"}}}}\n')
    return "name: doubling\nnodes:\n" + "".join(rows)


@pytest.mark.prefect
def test_rendering_amplification_fails_the_node_naming_the_field(prefect_server, lh_home, monkeypatch):
    from flows.runner import run_workflow

    monkeypatch.setenv("LH_WORKFLOW_MAX_INPUT_CHARS", "20000")
    reset_settings()
    text = doubling_chain(8, repeat=3)  # unbounded, n7's input is 1.3 MB from 800 bytes (n11's: 1.6 GB)
    assert len(text) < 1_000
    result = run_workflow(load_workflow_text(text, "doubling.yaml", {}))
    assert result.status == "failed"
    assert [n for n, r in result.nodes.items() if r.status == "completed"] == ["n0", "n1", "n2", "n3", "n4"]
    error = result.nodes["n5"].error  # 40,880 characters of rendered input
    assert result.nodes["n5"].status == "failed"
    assert error.startswith(
        "InputTooLarge: with.value: the references in this node's input bring in more than "
        "the limit of 20,000 characters"
    ), error
    assert result.nodes["n6"].error == "upstream failed: n5"
    assert result.nodes["n7"].status == "skipped"
    assert len(result.model_dump_json()) < 100_000


# ------------------------------------------------------------------------------------ over HTTP
@pytest.fixture(scope="module")
def api_server(shared_api):
    """`lakehouse api` in its own process: if a request crashes it, the tests see it die."""
    return shared_api.url, shared_api.process


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("block-1000", deep_block(1_000), DEPTH),
        ("flow-1000", deep_flow(1_000), DEPTH),
        ("block-50000", deep_block(50_000), DEPTH),
        ("flow-50000", deep_flow(50_000), DEPTH),
        ("billion-laughs", billion_laughs(), VALUES),
        ("dense-11", dense(11), r"n000.depends_on: cycle: n000 -> n001 -> n000"),
    ],
)
def test_validate_over_http_answers_422_and_stays_up(api_server, name, text, match):
    url, proc = api_server
    try:
        response = httpx.post(f"{url}/v1/observer/workflow/validate", json={"yaml": text}, timeout=120)
    except httpx.TransportError as exc:
        pytest.fail(f"the API dropped the request ({exc!r}); alive: {proc.poll() is None}")
    assert response.status_code == 422, response.text[:500]
    error = response.json()["error"]
    assert error["type"] == "workflow_invalid"
    assert re.search(match, error["message"]), error["message"]
    assert len(error["details"]["issues"]) == 1
    # the server still answers the next request
    good = "name: ok\nnodes:\n  - {id: a, mode: fixture.echo, with: {value: 1}}\n"
    after = httpx.post(f"{url}/v1/observer/workflow/validate", json={"yaml": good}, timeout=60)
    assert after.status_code == 200 and after.json()["valid"] is True


def test_read_description_is_bounded(tmp_path):
    from flows.loader import read_description

    good, deep, huge = tmp_path / "good.yaml", tmp_path / "deep.yaml", tmp_path / "huge.yaml"
    good.write_text("name: g\ndescription: does things\nnodes: []\n")
    deep.write_text("description: x\nnested: " + "[" * 50_000 + "]" * 50_000 + "\n")
    huge.write_text("description: " + "x" * (2 * 1024 * 1024) + "\n")
    assert read_description(good) == "does things"
    assert read_description(deep) is None and read_description(huge) is None
    assert read_description(tmp_path / "missing.yaml") is None


def test_deep_inputs_over_http_are_a_400_naming_them(api_server):
    url, _ = api_server
    text = "name: inp\ninputs:\n  x: {type: any}\nnodes:\n  - {id: a, mode: fixture.echo, with: {value: $inputs.x}}\n"
    body = '{"yaml": ' + json.dumps(text) + ', "inputs": {"x": ' + "[" * 900 + "]" * 900 + "}}"
    response = httpx.post(
        f"{url}/v1/observer/workflow/validate", content=body, headers={"content-type": "application/json"}, timeout=60
    )
    assert response.status_code == 400, response.text[:300]  # it was a 500 (the answer echoed the value)
    message = response.json()["error"]["message"]
    assert message == "request body nests 902 levels of lists and objects (at inputs.x); at most 64 are accepted"
