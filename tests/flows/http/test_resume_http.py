"""`POST /v1/observer/runs/{run_id}/resume` against a real Prefect server: the new run's results and
ops plus its parent; 404 unknown run, 409 changed workflow, 422 bad body or unknown node."""

from __future__ import annotations

import time

import pytest

from lakehouse.config import reset_settings
from tests.fixtures.http import assert_error, serve_process_settings

pytestmark = pytest.mark.prefect

WORKFLOW = """
name: resume-http
nodes:
  - {id: start, mode: fixture.echo, with: {value: hello}}
  - {id: need, mode: fixture.require_file, depends_on: [start], with: {path: flag.txt}}
  - {id: shout, mode: fixture.upper, depends_on: [need], with: {text: $start.output.value}}
"""


@pytest.fixture(scope="module")
def api(prefect_server, tmp_path_factory):
    """The API on its own LH_HOME, which the runner (process settings) records into too."""
    home = tmp_path_factory.mktemp("resume-http") / "home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LH_HOME", str(home))
        reset_settings()
        try:
            with serve_process_settings() as live, live.client(timeout=300) as client:
                yield home, client
        finally:
            reset_settings()


def test_resume_after_a_failure(api):
    home, c = api
    parent = c.post("/v1/observer/workflow/run", json={"yaml": WORKFLOW}).json()
    assert parent["status"] == "failed", parent
    assert parent["nodes"]["need"]["error"] == "FixtureFailure: missing file: flag.txt"

    (home / "flag.txt").write_text("ready")
    response = c.post(f"/v1/observer/runs/{parent['run_id']}/resume", json={})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "completed" and body["run_id"] != parent["run_id"]
    assert body["parent_run_id"] == parent["run_id"]
    assert body["reused"] == ["start"]
    assert body["rerun"] == {"need": "failed", "shout": "downstream of need"}
    assert body["nodes"]["shout"]["output"] == {"text": "HELLO"}
    assert {(op["node_id"], op["status"], op["parent_run_id"]) for op in body["ops"]} == {
        ("need", "completed", parent["run_id"]),
        ("shout", "completed", parent["run_id"]),
    }

    again = c.post(f"/v1/observer/runs/{body['run_id']}/resume", json={"from_node": "shout"}).json()
    assert again["parent_run_id"] == body["run_id"]
    assert again["rerun"] == {"shout": "--from shout"}
    # `start` was executed by the first run: the chain points at it
    assert again["nodes"]["start"]["reused_from"] == parent["run_id"]
    assert [op["node_id"] for op in again["ops"]] == ["shout"]


def test_a_run_submitted_without_waiting_resumes_by_the_id_it_answered(api):
    home, c = api
    (home / "flag.txt").unlink(missing_ok=True)
    submitted = c.post("/v1/observer/workflow/run", params={"wait": "false"}, json={"yaml": WORKFLOW})
    assert submitted.status_code == 202, submitted.text
    run_id = submitted.json()["run_id"]
    deadline = time.monotonic() + 240
    view = c.get(f"/v1/observer/runs/{run_id}").json()
    while view["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.25)
        view = c.get(f"/v1/observer/runs/{run_id}").json()
    assert view["status"] == "failed", view
    (home / "flag.txt").write_text("ready")
    response = c.post(f"/v1/observer/runs/{run_id}/resume", json={})
    assert response.status_code == 200, response.text
    assert response.json()["parent_run_id"] == view["flow_run_id"] != run_id
    assert response.json()["reused"] == ["start"]


def test_changed_workflow_is_409_unless_allow_changed(api):
    home, c = api
    saved = home / "workflows" / "resume-saved.yaml"
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(WORKFLOW.replace("resume-http", "resume-saved").replace("{path: flag.txt}", "{path: saved.txt}"))
    (home / "saved.txt").write_text("ready")
    parent = c.post("/v1/observer/workflow/run", json={"workflow": "resume-saved"}).json()
    assert parent["status"] == "completed", parent

    saved.write_text(saved.read_text().replace("{value: hello}", "{value: hi}"))
    assert_error(
        c.post(f"/v1/observer/runs/{parent['run_id']}/resume", json={}),
        409,
        "resume_refused",
        match=r"changed since run .*node\(s\) changed: start\..*allow_changed: true",
    )
    body = c.post(f"/v1/observer/runs/{parent['run_id']}/resume", json={"allow_changed": True}).json()
    assert body["status"] == "completed", body
    assert body["reused"] == []
    assert body["nodes"]["shout"]["output"] == {"text": "HI"}


def test_unknown_run_is_404(api):
    _, c = api
    assert_error(
        c.post("/v1/observer/runs/no-such-run/resume", json={}),
        404,
        "run_record_not_found",
        match=r"no record of run 'no-such-run'.*lakehouse ops list",
    )


def test_a_run_id_with_a_nul_byte_is_404_without_the_store_layout(api):
    _, c = api
    error = assert_error(c.post("/v1/observer/runs/%00/resume", json={}), 404, "run_record_not_found")
    assert "not a run id" in error["message"] and "manifest" not in error["message"]


def test_bad_body_is_422(api):
    _, c = api
    assert_error(
        c.post("/v1/observer/runs/any/resume", json={"from": "start"}),
        422,
        "invalid_request",
        match=r"unknown field 'from'",
    )
    assert_error(
        c.post("/v1/observer/runs/any/resume", json={"allow_changed": "perhaps"}),
        422,
        "invalid_request",
    )


def test_unknown_from_node_is_422_with_a_suggestion(api):
    _, c = api
    parent = c.post("/v1/observer/workflow/run", json={"yaml": WORKFLOW.replace("flag.txt", "absent.txt")}).json()
    assert_error(
        c.post(f"/v1/observer/runs/{parent['run_id']}/resume", json={"from_node": "shuot"}),
        422,
        "unknown_node",
        match=r"no such node .*did you mean 'shout'",
    )
