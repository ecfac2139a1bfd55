"""`POST /v1/observer/runs/{run_id}/approve` and `GET /v1/observer/approvals` on a real `lakehouse api`
process that talks to the session's Prefect server; the paused run is workflows/approval-demo.yaml,
run in this process (a background thread) against the same server."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.fixtures.approvals import DEMO, BackgroundRun
from tests.fixtures.http import api_process, assert_error, free_port, make_settings, serve

pytestmark = pytest.mark.prefect


@pytest.fixture(scope="module")
def api(prefect_server, tmp_path_factory) -> Iterator[httpx.Client]:
    # the API process must see the test server: the harness sets it in Prefect's settings, not os.environ
    with api_process(tmp_path_factory.mktemp("approval-api"), env={"PREFECT_API_URL": prefect_server}) as (url, _):
        with httpx.Client(base_url=url, timeout=60) as client:
            yield client


def test_approve_over_http(api, lh_home):
    run = BackgroundRun(DEMO, {"text": "over http"})
    pending = run.paused()
    listed = api.get("/v1/observer/approvals")
    assert listed.status_code == 200, listed.text
    (mine,) = [p for p in listed.json()["approvals"] if p["run_id"] == pending.run_id]
    assert (mine["workflow"], mine["node"], mine["message"]) == ("approval-demo", "gate", "Publish the prepared text?")

    response = api.post(f"/v1/observer/runs/{pending.run_id}/approve", json={"node": "gate", "by": "carol"})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "run_id": pending.run_id,
        "workflow": "approval-demo",
        "node": "gate",
        "approved": True,
        "reason": None,
        "by": "carol",
    }
    result = run.finish()
    assert result.status == "completed"
    assert result.nodes["publish"].output == {"value": {"published": "OVER HTTP", "approved_by": "carol"}}


def test_reject_over_http_and_the_refusals(api, lh_home):
    run = BackgroundRun(DEMO)
    pending = run.paused()
    approve = f"/v1/observer/runs/{pending.run_id}/approve"

    wrong = api.post(approve, json={"node": "publish"})
    assert_error(wrong, 409, "approval_refused", "is waiting on node 'gate', not 'publish'")
    assert_error(api.post(approve, json={"node": "gate", "approve": False}), 400, "user_error", "needs a reason")
    assert_error(api.post(approve, json={"node": "gate", "verdict": "yes"}), 422, "invalid_request")

    response = api.post(approve, json={"node": "gate", "approve": False, "reason": "not today", "by": "dan"})
    assert response.status_code == 200, response.text
    assert (response.json()["approved"], response.json()["reason"]) == (False, "not today")
    result = run.finish()
    assert result.nodes["gate"].error == "rejected by dan: not today"
    assert result.nodes["notify"].output == {"value": "not published: not today"}
    assert result.nodes["publish"].status == "skipped"

    assert_error(api.post(approve, json={"node": "gate"}), 409, "approval_refused", "is not waiting for an approval")


def test_unknown_run_is_404(api):
    missing = str(uuid.uuid4())
    assert_error(api.post(f"/v1/observer/runs/{missing}/approve", json={"node": "gate"}), 404, "run_record_not_found")
    assert_error(api.post("/v1/observer/runs/not-a-run/approve", json={"node": "gate"}), 404, "run_record_not_found")


def test_no_reachable_prefect_server_is_503(prefect_server, tmp_path):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    # in-process API (its thread runs in this context): a Prefect server nobody listens on
    with temporary_settings(updates={PREFECT_API_URL: f"http://127.0.0.1:{free_port()}/api"}):
        with serve(make_settings(tmp_path / "home")) as live, live.client() as client:
            assert_error(client.get("/v1/observer/approvals"), 503, "prefect_unavailable", "unreachable")
            answer = client.post(f"/v1/observer/runs/{uuid.uuid4()}/approve", json={"node": "gate"})
            assert_error(answer, 503, "prefect_unavailable")


def test_a_run_submitted_without_waiting_is_approved_by_the_id_it_answered(api):
    """`?wait=false` answers its own run id at once; that id follows the run (GET), and approve and
    resume take it too: it names the Prefect flow run as soon as the flow has started."""
    submitted = api.post(
        "/v1/observer/workflow/run",
        params={"wait": "false"},
        json={"workflow": "approval-demo", "inputs": {"text": "x"}},
    )
    assert submitted.status_code == 202, submitted.text
    run_id = submitted.json()["run_id"]
    deadline = time.monotonic() + 120
    flow_run_id = None
    while time.monotonic() < deadline:
        view = api.get(f"/v1/observer/runs/{run_id}").json()
        assert view["status"] in ("queued", "running"), view
        pending = {p["run_id"] for p in api.get("/v1/observer/approvals").json()["approvals"]}
        if view["flow_run_id"] in pending:
            flow_run_id = view["flow_run_id"]
            break
        time.sleep(0.3)
    assert flow_run_id is not None and flow_run_id != run_id
    answered = api.post(f"/v1/observer/runs/{run_id}/approve", json={"node": "gate", "by": "erin"})
    assert answered.status_code == 200, answered.text
    assert answered.json()["run_id"] == flow_run_id
    while time.monotonic() < deadline and api.get(f"/v1/observer/runs/{run_id}").json()["status"] == "running":
        time.sleep(0.3)
    done = api.get(f"/v1/observer/runs/{run_id}").json()
    assert done["status"] == "completed", done
    assert done["result"]["nodes"]["publish"]["output"] == {"value": {"published": "X", "approved_by": "erin"}}
