"""A `?wait=false` run is followed by the id its submission answered even after the API that took it
stopped: each submission's state is kept in the object store (`_runs/submissions/`). A run still
waiting to start when the API stops is cancelled and says so; one whose process died reads as
stopped (cancelled before its flow started, crashed after)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import httpx
import pytest

from flows.http.runs import STOPPED_BEFORE_START, RunTracker
from flows.outputs import RunStore
from flows.run_lock import is_running
from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from tests.fixtures.http import api_process, assert_error, finished_run, serve, serve_process_settings

pytestmark = pytest.mark.prefect

QUICK = """
name: kept-quick
nodes:
  - {id: say, mode: fixture.echo, with: {value: "still here"}}
"""
SLOW = """
name: kept-slow
nodes:
  - {id: nap, mode: fixture.sleep, with: {seconds: 3}}
"""


def test_a_finished_run_answers_by_its_id_after_the_api_restarted(prefect_server):
    with serve_process_settings() as live, live.client(timeout=300) as c:
        submitted = c.post("/v1/observer/workflow/run", params={"wait": "false"}, json={"yaml": QUICK})
        assert submitted.status_code == 202, submitted.text
        run_id = submitted.json()["run_id"]
        before = finished_run(c, run_id)
    assert before["status"] == "completed", before

    with serve_process_settings() as live, live.client(timeout=60) as c:  # a new API: its tracker never saw the run
        view = c.get(f"/v1/observer/runs/{run_id}")
    assert view.status_code == 200, view.text
    after = view.json()
    assert (after["run_id"], after["status"], after["flow_run_id"]) == (run_id, "completed", before["flow_run_id"])
    assert [(op["node_id"], op["status"]) for op in after["ops"]] == [("say", "completed")]
    assert after["result"] is None and after["error"] is None


def test_runs_waiting_to_start_when_the_api_stops_are_cancelled_and_say_so(prefect_server, tmp_path):
    """A real `lakehouse api` stopped by SIGTERM with two runs running and two waiting."""
    env = {"PREFECT_API_URL": prefect_server}
    with api_process(tmp_path, env=env) as (url, _), httpx.Client(base_url=url, timeout=60) as c:
        ids = []
        for _ in range(4):  # two workers: two run, two wait
            answer = c.post("/v1/observer/workflow/run", params={"wait": "false"}, json={"yaml": SLOW})
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["run_id"])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            states = [c.get(f"/v1/observer/runs/{i}").json()["status"] for i in ids]
            if states[:2] == ["running", "running"]:
                break
            time.sleep(0.1)
        assert states[2:] == ["queued", "queued"], states

    with api_process(tmp_path, env=env) as (url, _), httpx.Client(base_url=url, timeout=60) as c:
        for run_id in ids[2:]:
            view = c.get(f"/v1/observer/runs/{run_id}").json()
            assert (view["status"], view["error"], view["flow_run_id"], view["ops"]) == (
                "cancelled",
                STOPPED_BEFORE_START,
                None,
                [],
            )
            refused = c.post(f"/v1/observer/runs/{run_id}/approve", json={"node": "nap"})
            assert_error(refused, 409, "run_not_started", match="is cancelled and never started a flow run: the API")
        for run_id in ids[:2]:  # the API finished what it had started before it exited
            view = c.get(f"/v1/observer/runs/{run_id}").json()
            assert view["status"] == "completed", (view["error"], view["ops"])
            assert [op["node_id"] for op in view["ops"]] == ["nap"]


def test_a_run_left_by_a_process_that_died_reads_as_stopped(tmp_path):
    """A SIGKILLed API cannot mark its runs: the record's process is gone, so the state is read as
    stopped (and a new process that got the same pid is not taken for it)."""
    lakehouse = Lakehouse(Settings(home=tmp_path / "home"))
    store = RunStore(lakehouse.store)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    waiting, running = uuid.uuid4().hex, uuid.uuid4().hex
    flow_run_id = str(uuid.uuid4())
    base = {"workflow": "w", "submitted_at": "2026-12-06T00:00:00+00:00", "started_at": None, "finished_at": None}
    store.write_submission(
        {**base, "run_id": waiting, "status": "queued", "flow_run_id": None, "error": None, "pid": dead_pid}
    )
    store.write_submission(
        {**base, "run_id": running, "status": "running", "flow_run_id": flow_run_id, "error": None, "pid": os.getpid()}
    )  # our own pid, but another tracker's record: a restarted API in a container gets the same pid
    tracker = RunTracker(records=store)
    try:
        assert tracker.recorded(waiting)["status"] == "cancelled"
        crashed = tracker.recorded(running)
        assert crashed["status"] == "crashed"
        assert f"POST /v1/observer/runs/{flow_run_id}/resume runs the rest" in crashed["error"]
        assert tracker.flow_run_id(running) == flow_run_id  # resume and approve still find its flow run
        assert tracker.recorded("../../etc/passwd") is None  # only a submission's id is looked up
        assert tracker.recorded(uuid.uuid4().hex) is None
        edited = uuid.uuid4().hex  # a record not as the tracker writes them: none (it was a 500)
        store.write_submission({"run_id": edited, "status": "queued", "pid": "x"})
        store.store.put(RunStore.submission_key(waiting[:31] + "f"), b"{}")
        assert tracker.recorded(waiting[:31] + "f") is None
        assert tracker.recorded(edited)["status"] == "cancelled"  # its process is not a process
    finally:
        tracker.close()
        lakehouse.close()


def test_a_run_paused_for_an_approval_does_not_hold_a_stopping_api(prefect_server, tmp_path):
    """The run workers were joined at exit, so SIGTERM with a run paused at its gate left the API
    up for the pause's hour; now it waits `api_stop_grace_s`, exits, and the run reads as crashed."""
    env = {"PREFECT_API_URL": prefect_server, "LH_API_STOP_GRACE_S": "1"}
    with api_process(tmp_path, env=env) as (url, proc), httpx.Client(base_url=url, timeout=60) as c:
        answer = c.post(
            "/v1/observer/workflow/run",
            params={"wait": "false"},
            json={"workflow": "approval-demo", "inputs": {"text": "x"}},
        )
        run_id = answer.json()["run_id"]
        deadline = time.monotonic() + 120
        flow_run_id = None
        while flow_run_id is None and time.monotonic() < deadline:
            pending = {p["run_id"] for p in c.get("/v1/observer/approvals").json()["approvals"]}
            flow_run_id = c.get(f"/v1/observer/runs/{run_id}").json()["flow_run_id"]
            flow_run_id = flow_run_id if flow_run_id in pending else None
            time.sleep(0.2)
        assert flow_run_id is not None
        proc.terminate()
        assert proc.wait(timeout=120) == 143  # SystemExit(128 + SIGTERM), within the grace

    with serve(Settings(home=tmp_path / "home")) as live, live.client(timeout=60) as c:  # a new API
        view = c.get(f"/v1/observer/runs/{run_id}").json()
    assert (view["status"], view["flow_run_id"]) == ("crashed", flow_run_id), view
    assert f"POST /v1/observer/runs/{flow_run_id}/resume runs the rest" in view["error"]


def test_a_run_whose_flow_ended_before_its_process_recorded_it_reads_as_it_ended(tmp_path, monkeypatch):
    """The process stopped after the flow ended but before the record said so: the flow's lock
    file is gone and its ops say how it went (it read "crashed ... stopped before it finished")."""
    from lakehouse.config import reset_settings
    from lakehouse.observe.observer import ObservedOp, now_utc

    monkeypatch.setenv("LH_HOME", str(tmp_path / "home"))
    reset_settings()
    lakehouse = Lakehouse(Settings())
    store = RunStore(lakehouse.store)
    run_id, flow_run_id = uuid.uuid4().hex, str(uuid.uuid4())
    from flows.runner import current_lakehouse

    current_lakehouse().observer.record(
        ObservedOp.build(
            ts_start=now_utc(), source="workflow", workflow="w", run_id=flow_run_id, node_id="s", status="completed"
        )
    )
    store.write_submission(
        {"run_id": run_id, "workflow": "w", "status": "running", "flow_run_id": flow_run_id, "error": None, "pid": -1}
    )
    tracker = RunTracker(records=store)
    try:
        assert (tracker.recorded(run_id)["status"], tracker.recorded(run_id)["error"]) == ("completed", None)
        lock = tmp_path / "home" / "locks" / "runs" / f"{flow_run_id}.lock"
        lock.parent.mkdir(parents=True)
        lock.touch()  # left by a process killed inside the flow
        assert tracker.recorded(run_id)["status"] == "crashed"
    finally:
        tracker.close()
        lakehouse.close()
        reset_settings()


NODE_IN_FLIGHT = """
name: kept-long-node
nodes:
  - {id: nap, mode: fixture.sleep, with: {seconds: 3000}}
"""


@pytest.mark.parametrize(
    ("wait", "stop", "code"),
    [("false", signal.SIGTERM, 143), ("true", signal.SIGINT, 130)],
)
def test_a_node_in_flight_does_not_hold_a_stopping_api(prefect_server, tmp_path, wait, stop, code):
    """Prefect joins its task threads at exit, so a stopped API waited for a node in flight to end
    (the probe: a 60 s node, grace 3 s, exit after 58 s); a `?wait=true` request held it too. Now
    it exits soon after the grace, and the run is left to resume; the waiting caller gets a 503.
    Stopped by Ctrl-C (SIGINT) it exited 0 (uvicorn swallows the KeyboardInterrupt): 130 now."""
    env = {"PREFECT_API_URL": prefect_server, "LH_API_STOP_GRACE_S": "1"}
    submitted: list[httpx.Response] = []
    with api_process(tmp_path, env=env) as (url, proc), httpx.Client(base_url=url, timeout=60) as c:
        threading.Thread(  # a ?wait=true caller waits for ever; its connection ends with the API
            target=lambda: _ignore_transport_errors(
                submitted.append,
                c.post,
                "/v1/observer/workflow/run",
                params={"wait": wait},
                json={"yaml": NODE_IN_FLIGHT},
            ),
            daemon=True,
        ).start()
        deadline = time.monotonic() + 120
        while not _runs_holding_a_lock(tmp_path):
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(0.2)
        time.sleep(1)  # its node is in flight by now (or starts while the API stops: the same case)
        proc.send_signal(stop)
        if stop == signal.SIGINT:  # an impatient second Ctrl-C while it stops: no traceback from it
            time.sleep(3)
            if proc.poll() is None:
                proc.send_signal(stop)
        assert proc.wait(timeout=120) == code  # well before the node's 3,000 s
    said = " ".join(proc.output.split())  # the console wraps its lines
    assert "1 workflow run(s) still running as the server stopped: exiting without them" in said, said
    assert "Traceback" not in said, said

    (run_id,) = _runs_holding_a_lock(tmp_path)  # its file is left, unheld: the process died running it
    assert not is_running(tmp_path / "home", run_id)
    if wait == "false":
        with serve(Settings(home=tmp_path / "home")) as live, live.client(timeout=60) as c:
            view = c.get(f"/v1/observer/runs/{submitted[0].json()['run_id']}").json()
        assert view["status"] == "crashed", view
    else:
        (answer,) = submitted  # the caller hears why its request ended
        assert_error(answer, 503, "stopping", match="the API stopped before this request finished")


def _ignore_transport_errors(keep, call, *args, **kwargs) -> None:
    try:
        keep(call(*args, **kwargs))
    except httpx.TransportError:
        pass


def _runs_holding_a_lock(tmp_path) -> list[str]:
    return [lock.stem for lock in (tmp_path / "home" / "locks" / "runs").glob("*.lock")]
