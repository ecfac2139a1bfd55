"""Workflows over HTTP: submitted as YAML or by name, run through a real Prefect server, answered
with per-node results and the run's ObservedOps; `?wait=false` runs are followed by id."""

from __future__ import annotations

import time

import pytest

from tests.fixtures.http import assert_error, finished_run, serve_process_settings

try:
    import flows.runner  # noqa: F401

    HAVE_RUNNER = True
except ImportError:  # the runner arrives with the workflow engine
    HAVE_RUNNER = False

needs_runner = pytest.mark.skipif(not HAVE_RUNNER, reason="flows.runner is not available")

GOOD = """
name: http-good
inputs:
  text: {type: string, required: true}
nodes:
  - id: start
    mode: fixture.echo
    with: {value: $inputs.text}
  - id: shout
    mode: fixture.upper
    depends_on: [start]
    with: {text: $start.output.value}
"""

FAILING = """
name: http-failing
nodes:
  - id: start
    mode: fixture.echo
    with: {value: 1}
  - id: broken
    mode: fixture.fail
    depends_on: [start]
    with: {message: "the broken node says no"}
  - id: after
    mode: fixture.echo
    depends_on: [broken]
    with: {value: 2}
"""


@pytest.fixture(scope="module")
def wf(prefect_server):
    """The API on the session's LH_HOME (the runner records ops through the process settings)."""
    with serve_process_settings() as live, live.client(timeout=300) as c:
        yield live, c


@needs_runner
@pytest.mark.prefect
def test_yaml_workflow_runs_and_returns_its_ops(wf):
    live, c = wf
    response = c.post("/v1/observer/workflow/run", json={"yaml": GOOD, "inputs": {"text": "night shift"}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["workflow"] == "http-good" and body["status"] == "completed"
    assert body["nodes"]["shout"]["output"] == {"text": "NIGHT SHIFT"}
    assert {op["node_id"] for op in body["ops"]} == {"start", "shout"}
    assert {(op["source"], op["run_id"], op["status"]) for op in body["ops"]} == {
        ("workflow", body["run_id"], "completed")
    }
    by_run = c.get("/v1/observer/ops", params={"run_id": body["run_id"]}).json()
    assert by_run["count"] == 2


@needs_runner
@pytest.mark.prefect
def test_failing_workflow_returns_its_failed_node(wf):
    _, c = wf
    body = c.post("/v1/observer/workflow/run", json={"yaml": FAILING}).json()
    assert body["status"] == "failed"
    assert body["nodes"]["broken"]["status"] == "failed"
    assert "the broken node says no" in body["nodes"]["broken"]["error"]
    assert body["nodes"]["after"] == {
        "status": "skipped",
        "output": None,
        "error": "upstream failed: broken",
        "attempts": 0,
    }
    failed_ops = [op for op in body["ops"] if op["status"] == "failed"]
    assert [op["node_id"] for op in failed_ops] == ["broken"]


@needs_runner
@pytest.mark.prefect
def test_no_wait_returns_a_run_id_to_follow(wf):
    _, c = wf
    response = c.post(
        "/v1/observer/workflow/run", params={"wait": "false"}, json={"yaml": GOOD, "inputs": {"text": "later"}}
    )
    assert response.status_code == 202, response.text
    view = finished_run(c, response.json()["run_id"])
    assert view["status"] == "completed", view
    assert view["result"]["nodes"]["shout"]["output"] == {"text": "LATER"}
    assert len(view["result"]["ops"]) == 2
    # the Prefect flow-run id works too, answered from the recorded ops
    by_flow = c.get(f"/v1/observer/runs/{view['flow_run_id']}").json()
    assert by_flow["status"] == "completed" and len(by_flow["ops"]) == 2


@needs_runner
@pytest.mark.prefect
def test_a_run_with_a_sub_workflow_keeps_its_own_flow_run_id(wf):
    """The sub-workflow's subflow starts inside the run too; the id the run is followed, approved
    and resumed by stays the top flow's (it became the child's, whose gate the parent's id is not)."""
    _, c = wf
    response = c.post("/v1/observer/workflow/run", params={"wait": "false"}, json={"workflow": "subworkflow-demo"})
    assert response.status_code == 202, response.text
    view = finished_run(c, response.json()["run_id"])
    assert view["status"] == "completed", view
    assert view["result"]["nodes"]["report"]["output"] == {
        "value": "the child said: hello from the parent -> HELLO FROM THE PARENT"
    }
    assert view["flow_run_id"] == view["result"]["run_id"]


def test_unknown_run_is_404(http_client):
    assert_error(http_client.get("/v1/observer/runs/nope"), 404, "unknown_run", match="no run 'nope'")


def test_invalid_workflow_is_422_with_every_issue(http_client):
    text = GOOD.replace("fixture.upper", "fixture.uper").replace("depends_on: [start]", "depends_on: [strat]")
    response = http_client.post("/v1/observer/workflow/run", json={"yaml": text, "inputs": {"text": "x"}})
    error = assert_error(
        response, 422, "workflow_invalid", match=r"the workflow has \d+ problems: .*did you mean 'start'"
    )
    fields = {(i["node"], i["field"]) for i in error["details"]["issues"]}
    assert {("shout", "mode"), ("shout", "depends_on")} <= fields
    assert all(i["file"] == "<request>" for i in error["details"]["issues"])


def test_missing_required_input_is_422(http_client):
    error = assert_error(
        http_client.post("/v1/observer/workflow/validate", json={"yaml": GOOD}),
        422,
        "workflow_invalid",
        match=r"missing required input 'text'",
    )
    assert error["details"]["issues"][0]["field"] == "inputs.text"


def test_unknown_workflow_name_is_404_with_suggestion(http_client):
    error = assert_error(
        http_client.post("/v1/observer/workflow/run", json={"workflow": "fixture-branchs"}),
        404,
        "unknown_workflow",
        match=r"did you mean 'fixture-branches'",
    )
    assert "fixture-branches" in error["details"]["known"]


def test_a_path_is_not_a_workflow_name(http_client, tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text(GOOD)
    assert_error(
        http_client.post("/v1/observer/workflow/validate", json={"workflow": str(path)}), 404, "unknown_workflow"
    )


def test_request_needs_exactly_one_of_yaml_or_workflow(http_client):
    assert_error(
        http_client.post("/v1/observer/workflow/run", json={"inputs": {}}),
        422,
        "invalid_request",
        match="exactly one of `yaml`",
    )
    assert_error(
        http_client.post("/v1/observer/workflow/run", json={"yml": GOOD}),
        422,
        "invalid_request",
        match=r"unknown field 'yml'; did you mean 'yaml'\?",
    )


def test_validate_by_name_and_list(http_client):
    listing = http_client.get("/v1/observer/workflow/list").json()
    names = {w["name"] for w in listing["workflows"]}
    assert "fixture-branches" in names
    body = http_client.post("/v1/observer/workflow/validate", json={"workflow": "fixture-branches"}).json()
    assert body["valid"] and body["workflow"] == "fixture-branches" and body["layers"][0] == ["start"]


SLOW = """
name: http-slow
nodes:
  - {id: nap, mode: fixture.sleep, with: {seconds: 2}}
"""


@needs_runner
@pytest.mark.prefect
def test_runs_waiting_to_start_are_bounded_with_a_429_and_the_accepted_ones_run(wf):
    """`?wait=false` queued without bound: 100 submissions from one client starved another's and
    held the memory (a probe). Past the bound a submission is refused, and nothing of it is kept."""
    live, c = wf
    live.app.state.runs.max_waiting = 2
    accepted, refused = [], None
    for _ in range(12):
        response = c.post("/v1/observer/workflow/run", params={"wait": "false"}, json={"yaml": SLOW})
        if response.status_code == 429:
            refused = response
            break
        assert response.status_code == 202, response.text
        accepted.append(response.json()["run_id"])
    assert refused is not None, "never refused"
    error = assert_error(refused, 429, "too_many_runs", match=r"workflow runs already wait to start \(at most 2\)")
    assert error["details"]["waiting"] == 2
    deadline = time.monotonic() + 240
    for run_id in accepted:
        while c.get(f"/v1/observer/runs/{run_id}").json()["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, "an accepted run never finished"
            time.sleep(0.25)
        assert c.get(f"/v1/observer/runs/{run_id}").json()["status"] == "completed"
    live.app.state.runs.max_waiting = 32
