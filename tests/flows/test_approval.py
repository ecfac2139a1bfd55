"""Approval gates: a node pauses its Prefect flow run until `lakehouse workflow approve` (or the Prefect
UI's Resume) answers; rejected runs the `on_reject` branch; nobody answering times the gate out.

The shipped workflows/approval-demo.yaml (prepare -> gate -> publish, gate -on_reject-> notify) runs in a
background thread against the session's real Prefect server; the test answers through the CLI in-process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from flows.approval import pause_key, pending_approvals
from tests.fixtures.approvals import DEMO, BackgroundRun
from tests.fixtures.cli import invoke_cli
from tests.fixtures.runs import ops_by_node, run_text

pytestmark = pytest.mark.prefect

QUICK_TIMEOUT = DEMO.replace("timeout_s: 3600", "timeout_s: 2")


def _flow_run_state(run_id: str):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(uuid.UUID(run_id)).state


def test_approve_resumes_the_run_and_publish_runs(prefect_server, lh_home):
    run = BackgroundRun(DEMO, {"text": "notes"})
    pending = run.paused()
    assert (pending.node, pending.message) == ("gate", "Publish the prepared text?")
    assert pending.since is not None and pending.expires is not None and pending.expires > pending.since
    listed = invoke_cli("workflow", "approvals", "--json").stdout
    assert pending.run_id in listed and "Publish the prepared text?" in listed
    shown = invoke_cli("workflow", "approvals").stdout
    assert f"{pending.run_id}  approval-demo / gate" in shown and "Publish the prepared text?" in shown

    out = invoke_cli("workflow", "approve", pending.run_id, "gate", "--by", "alice", "--json").stdout
    assert '"approved": true' in out and '"by": "alice"' in out
    result = run.finish()

    assert result.run_id == pending.run_id
    assert result.status == "completed"
    gate = result.nodes["gate"]
    assert (gate.status, gate.output) == ("completed", {"approved": True, "reason": None, "by": "alice"})
    assert result.nodes["publish"].output == {"value": {"published": "NOTES", "approved_by": "alice"}}
    assert result.nodes["notify"].status == "skipped"
    assert result.nodes["notify"].error == "gate was approved: its on_reject branch does not run"
    assert [op["status"] for op in ops_by_node(result.run_id)["gate"]] == ["completed"]
    assert _flow_run_state(result.run_id).is_completed()


def test_reject_with_a_reason_runs_the_on_reject_branch(prefect_server, lh_home):
    run = BackgroundRun(DEMO)
    pending = run.paused()

    out = invoke_cli("workflow", "approve", pending.run_id, "gate", "--reject", "--reason", "too early", "--by", "bob")
    assert "rejected" in out.stdout and "too early" in out.stdout
    result = run.finish()

    assert result.status == "failed"
    gate = result.nodes["gate"]
    assert (gate.status, gate.error) == ("failed", "rejected by bob: too early")
    assert gate.output == {"approved": False, "reason": "too early", "by": "bob"}
    assert result.nodes["notify"].output == {"value": "not published: too early"}
    assert (result.nodes["publish"].status, result.nodes["publish"].error) == ("skipped", "upstream failed: gate")


def test_nobody_answering_times_the_gate_out(prefect_server, lh_home):
    run = BackgroundRun(QUICK_TIMEOUT)
    pending = run.paused()
    result = run.finish()

    gate = result.nodes["gate"]
    assert (gate.status, gate.error) == ("failed", "approval of gate timed out after 2 s")
    assert result.nodes["publish"].status == "skipped"
    assert result.nodes["notify"].status == "skipped"  # not rejected: nobody answered
    # the run did not stay Paused: its state is final, and a late answer is refused
    assert _flow_run_state(pending.run_id).is_final()
    late = invoke_cli("workflow", "approve", pending.run_id, "gate", code=1)
    assert f"run {pending.run_id} is not waiting for an approval" in late.stderr


def test_wrong_node_and_reject_without_reason_are_refused_and_the_run_still_waits(prefect_server, lh_home):
    run = BackgroundRun(DEMO)
    pending = run.paused()

    wrong = invoke_cli("workflow", "approve", pending.run_id, "publish", code=1)
    assert f"run {pending.run_id} is waiting on node 'gate', not 'publish'" in wrong.stderr
    no_reason = invoke_cli("workflow", "approve", pending.run_id, "gate", "--reject", code=1)
    assert "a rejection needs a reason" in no_reason.stderr
    assert _flow_run_state(pending.run_id).is_paused()

    invoke_cli("workflow", "approve", pending.run_id, "gate")
    assert run.finish().status == "completed"
    done = invoke_cli("workflow", "approve", pending.run_id, "gate", code=1)
    assert f"run {pending.run_id} is not waiting for an approval (state: Completed)" in done.stderr


def test_unknown_runs_are_not_found(prefect_server, lh_home):
    missing = str(uuid.uuid4())
    assert (
        f"no flow run '{missing}' on the Prefect server"
        in invoke_cli("workflow", "approve", missing, "gate", code=1).stderr
    )
    assert "run ids are Prefect flow-run ids" in invoke_cli("workflow", "approve", "nope", "gate", code=1).stderr


def test_a_gate_whose_process_was_killed_is_not_listed_and_not_answered(prefect_server, lh_home):
    """Its Prefect flow run stays Paused, but nobody waits on it: `approve` said "approved" (exit 0)
    for an answer that went nowhere, and `approvals` listed it beside the live gate of its resume."""
    known = {p.run_id for p in pending_approvals()}
    cli = str(Path(sys.executable).with_name("lakehouse"))
    env = {**os.environ, "PREFECT_API_URL": prefect_server}
    run = subprocess.Popen(
        [cli, "workflow", "run", "approval-demo", "--input", "text=x"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline, run_id = time.monotonic() + 120, None
        while run_id is None and time.monotonic() < deadline:
            fresh = [p.run_id for p in pending_approvals() if p.run_id not in known and p.workflow == "approval-demo"]
            run_id = fresh[0] if fresh else None
            time.sleep(0.3)
        assert run_id is not None, "the run did not pause"
    finally:
        run.kill()
        run.wait(timeout=30)
    assert _flow_run_state(run_id).is_paused()  # as Prefect still sees it
    assert run_id not in {p.run_id for p in pending_approvals()}
    refused = invoke_cli("workflow", "approve", run_id, "gate", code=1).stderr
    assert f"run {run_id} is paused at 'gate', but the process running it has ended (killed?)" in refused
    assert "Resume its workflow run (`lakehouse workflow resume`)" in refused
    for spelling in (run_id.upper(), "{" + run_id + "}", run_id.replace("-", "")):  # the lock names one
        assert "the process running it has ended" in invoke_cli("workflow", "approve", spelling, "gate", code=1).stderr


def test_no_reachable_prefect_server_exits_2(prefect_server, lh_home):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from tests.fixtures.http import free_port

    dead = f"http://127.0.0.1:{free_port()}/api"
    with temporary_settings(updates={PREFECT_API_URL: dead}):
        out = invoke_cli("workflow", "approve", str(uuid.uuid4()), "gate", code=2)
        assert f"the Prefect server at {dead} is unreachable" in out.stderr
        invoke_cli("workflow", "approvals", code=2)
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert "no Prefect server" in invoke_cli("workflow", "approvals", code=2).stderr


def test_resume_from_the_prefect_ui_approves(prefect_server, lh_home):
    """What the UI shows (a Paused run keyed by the node, its form and the message) and what its Resume
    button sends (the form's values; `approved` starts checked) are enough."""
    from prefect.client.orchestration import get_client
    from prefect.flow_runs import resume_flow_run

    run = BackgroundRun(DEMO)
    pending = run.paused()
    state = _flow_run_state(pending.run_id)
    assert (state.type.value, state.state_details.pause_key) == ("PAUSED", "gate")
    with get_client(sync_client=True) as client:
        schema = client.read_flow_run_input(uuid.UUID(pending.run_id), "paused-gate-schema")
        description = client.read_flow_run_input(uuid.UUID(pending.run_id), "paused-gate-description")
    for field in ("approved", "reason", "by"):
        assert f'"{field}"' in schema
    assert "Publish the prepared text?" in description

    deadline = time.monotonic() + 10
    while True:  # the form is saved just after the pause: the UI would show no form until then
        try:
            resume_flow_run(uuid.UUID(pending.run_id), run_input={})
            break
        except RuntimeError as exc:
            assert "schema not found" in str(exc) and time.monotonic() < deadline
            time.sleep(0.2)
    result = run.finish()
    assert result.nodes["gate"].output == {"approved": True, "reason": None, "by": None}
    assert result.nodes["publish"].status == "completed"


def test_without_a_server_to_pause_against_the_gate_fails_at_once(prefect_server, lh_home):
    """Prefect's ephemeral mode (no PREFECT_API_URL): nobody could answer, so the node says what to do."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        result = run_text(DEMO)
    gate = result.nodes["gate"]
    assert gate.status == "failed"
    assert "needs a Prefect server" in gate.error and "lakehouse server start" in gate.error
    assert result.nodes["prepare"].status == "completed"


def test_pause_keys_are_what_prefect_accepts_and_keep_node_ids_apart():
    assert pause_key("gate") == "gate"
    assert pause_key("gate-2") == "gate-2"
    odd = {pause_key(n) for n in ("Gate_1", "gate_1", "gate-1", "GATE-1")}
    assert len(odd) == 4
    assert all(key.replace("-", "").isalnum() and key == key.lower() for key in odd)
