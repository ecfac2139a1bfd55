"""Compile a checked workflow into a Prefect flow and run it.

The flow is named after the workflow; each node attempt is a Prefect task whose run name is the
node id (`NODE[i]` per fan-out item, `NODE#i` per loop iteration); `flows/engine.py` schedules them,
`flows/tasks.py` defines them. A failed node's dependents are skipped (`upstream failed: <id>`,
unless their trigger rule says otherwise), independent branches go on, and the run ends Failed.
Every attempt and every skip is an ObservedOp, written by our own code as it happens (Prefect's
ephemeral server may drop task-run records at exit). Every run leaves a manifest, node records and
content-addressed outputs (`flows/outputs.py`) from which `workflow resume` starts a linked run.

`trusted_paths` says whether the nodes may name files outside the lakehouse's roots: the CLI runs
as the user (trusted); a workflow submitted over HTTP or triggered with deployment parameters is
not (the default), see `lakehouse/common/paths.py`.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import flow, tags
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run
from prefect.states import Failed, State

from flows.engine import NodeResult, RunResult, WorkflowRun
from flows.errors import PrefectUnavailable, ResumeRefused, WorkflowCrashed
from flows.loader import LoadedWorkflow, load_workflow, load_workflow_text
from flows.outputs import RunManifest
from flows.resume import resumed_already
from flows.tasks import current_lakehouse
from lakehouse.common.machine import machine_problem
from lakehouse.data.shared_log import flush_quietly
from lakehouse.errors import LakehouseError

__all__ = ["NodeResult", "RunResult", "WorkflowCrashed", "current_lakehouse", "run_workflow", "run_workflow_flow"]


def attach_ops_artifact(run: WorkflowRun) -> None:
    rows = []
    for op in run.lakehouse.observer.ring_ops(run.run_id):
        row = {k: op.get(k) for k in ("node_id", "mode", "attempt", "status", "duration_ms", "error")}
        result = run.results.get(op.get("node_id") or "")
        output = result.output if result is not None else None  # whole, where the op keeps a summary
        if isinstance(output, dict) and isinstance(output.get("counts"), dict):
            row["counts"] = output["counts"]  # a pass that reports what it kept, dropped, flagged
        rows.append(row)
    if any("counts" in row for row in rows):  # one shape for every row of the table
        for row in rows:
            row.setdefault("counts", None)
    key = "ops-" + "".join(c if c.isalnum() else "-" for c in run.loaded.name.lower())
    create_table_artifact(table=rows, key=key[:100], description=f"ObservedOps of run {run.run_id}")


def _tag_parent(run_id: str, parent_run_id: str) -> None:
    """The `parent:<id>` tag on a resumed flow run, also when a deployment started it."""
    from prefect.client.orchestration import get_client

    tag = f"parent:{parent_run_id}"
    if tag in (flow_run.tags or []):
        return
    with get_client(sync_client=True) as client:
        client.update_flow_run(UUID(run_id), tags=[*(flow_run.tags or []), tag])


def _crash_killed_parent(home: Path, parent_run_id: str, run_id: str) -> None:
    """A run whose process was killed stays "Running" in Prefect's UI for ever: nobody was left to end
    it. Its resume knows it ended (its lock file is left, unheld), so it says so there."""
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    from flows.run_lock import ended_here

    if not ended_here(home, parent_run_id):
        return
    message = f"its process ended without finishing the run (killed); resumed as flow run {run_id}"
    try:
        with get_client(sync_client=True) as client:
            parent = client.read_flow_run(UUID(parent_run_id))
            if parent.state is None or not parent.state.is_final():
                client.set_flow_run_state(parent.id, Crashed(message=message), force=True)
    except Exception:  # noqa: BLE001 - another Prefect server ran it, or this one is busy: the resume goes on
        return


@flow(name="lakehouse-workflow", persist_result=False, log_prints=False)
def run_workflow_flow(
    workflow: str,
    inputs: dict[str, Any] | None = None,
    yaml_text: str | None = None,
    trusted_paths: bool = False,
    resume_from: str | None = None,
    from_node: str | None = None,
    allow_changed: bool = False,
) -> dict[str, Any] | State:
    """Run a workflow by name or path (or from its YAML text); the deployable entry point. Its
    nodes' paths stay under the lakehouse's roots unless `trusted_paths` (the CLI's runs).
    `resume_from` RUN_ID: reuse that run's completed nodes and run the rest (`workflow resume`)."""
    loaded = (
        load_workflow_text(yaml_text, workflow, inputs or {}) if yaml_text else load_workflow(workflow, inputs or {})
    )
    from flows.run_hooks import FLOW_RUN_STARTED
    from flows.run_lock import running

    run_id = str(flow_run.id)
    started = FLOW_RUN_STARTED.get()
    if started is not None:
        started(run_id)
    plan = None
    lakehouse = current_lakehouse()
    if resume_from:
        from flows.resume import plan_resume

        plan = plan_resume(lakehouse, resume_from, loaded, from_node=from_node, allow_changed=allow_changed)
        _tag_parent(run_id, resume_from)
    with running(lakehouse.settings.home_dir, run_id):  # `resume` of a run still going is refused
        run = WorkflowRun(loaded, run_id, trusted_paths, plan)  # nothing runs before execute()
        run.runs.write_manifest(
            RunManifest(
                run_id=run_id,
                workflow=loaded.name,
                source=loaded.source,
                text=loaded.text,
                inputs=loaded.inputs,
                trusted_paths=trusted_paths,
                parent_run_id=resume_from,
                node_definitions=run.definitions,
            )
        )
        if resume_from and from_node is None and (first := run.runs.claim_resume(resume_from, run_id)) is not None:
            raise resumed_already(resume_from, first)  # a resume started at the same time claimed it
        if resume_from:
            _crash_killed_parent(lakehouse.settings.home_dir, resume_from, run_id)
        result = run.execute()
    attach_ops_artifact(run)
    flush_quietly(current_lakehouse().settings)  # shared state: this run's rows reach the _lh_* tables
    data = result.model_dump(mode="json")
    if result.status == "failed":
        failed = [n for n, r in result.nodes.items() if r.status == "failed"]
        return Failed(message=f"node(s) failed: {', '.join(failed)}", data=data)
    return data


_temporary_server_lock = threading.Lock()


def _start_temporary_server_once() -> None:
    """Without PREFECT_API_URL, Prefect starts its temporary server when a process first asks for a
    client, with no lock: two threads starting flows then (an API's first two runs) each start one,
    and only the second is stopped at exit. Started here, once per process, under a lock."""
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return
    from prefect.server.api.server import SubprocessASGIServer

    with _temporary_server_lock:
        _refuse_a_full_prefect_home(fresh_only=True)
        try:
            SubprocessASGIServer().start()  # a no-op once it runs
        except RuntimeError:  # "Timed out while attempting to connect to ephemeral Prefect API server."
            _refuse_a_full_prefect_home(fresh_only=False)
            raise


FRESH_DATABASE_MIN_FREE = 4 << 20  # a new database with its migrations takes 1-2 MiB, and a journal
FULL_DISK_FREE = 1 << 20  # less than this free after a failed start: the disk is why


def _refuse_a_full_prefect_home(*, fresh_only: bool) -> None:
    """The temporary server keeps its database under PREFECT_HOME; on a full disk it never answers,
    and Prefect gave up after two minutes with "Timed out while attempting to connect". A new
    database is refused at once when it cannot fit; otherwise a failed start names the disk."""
    import shutil
    from pathlib import Path

    from prefect.settings import PREFECT_HOME

    home = Path(PREFECT_HOME.value())
    database = home / "prefect.db"
    fresh = not database.exists() or database.stat().st_size == 0
    if fresh_only and not fresh:
        return
    try:
        free = shutil.disk_usage(home).free
    except OSError:
        return  # not made yet: Prefect makes it, or says why not
    if free < (FRESH_DATABASE_MIN_FREE if fresh_only else FULL_DISK_FREE):
        raise PrefectUnavailable(
            f"Prefect's temporary server cannot start: its database is under {home}, where the disk has "
            f"{free // 1024} KiB free: free space there, or run on a Prefect server elsewhere (PREFECT_API_URL)"
        )


def _refuse_a_silent_prefect_server() -> None:
    """A run needs the Prefect server it is pointed at. A long-running process (`lakehouse api`)
    keeps the address it found at start: once that server stopped, every run was a bare 500
    (ConnectError) until the API restarted. One `/health` call, answered in milliseconds."""
    from prefect.client.orchestration import get_client

    from flows.approval import prefect_api_url

    url = prefect_api_url()
    if url is None:
        return
    with get_client(sync_client=True) as client:
        problem = client.api_healthcheck()
    if problem is not None:
        raise PrefectUnavailable(
            f"the Prefect server at {url} does not answer ({type(problem).__name__}): start it "
            "(`lakehouse server start`), or set PREFECT_API_URL to one that runs; a `lakehouse api` keeps "
            "the address it started with, so restart it when the server comes back elsewhere"
        )


def run_workflow(
    loaded: LoadedWorkflow,
    inputs: dict[str, Any] | None = None,
    *,
    trusted_paths: bool = False,
    resume_from: str | None = None,
    from_node: str | None = None,
    allow_changed: bool = False,
) -> RunResult:
    """Run a checked workflow through Prefect and wait for it. Inputs are checked before it starts.
    `trusted_paths=True` only for the user's own process (the CLI): nodes may then name any file."""
    if inputs is not None:
        loaded = load_workflow_text(loaded.text, loaded.source, inputs)
    named = run_workflow_flow.with_options(name=loaded.name)
    address = current_lakehouse().settings.dask_address
    if address:  # every task of the run goes to the cluster (Prefect 3: one task runner per flow run)
        from flows.dask_runner import dask_task_runner

        named = named.with_options(task_runner=dask_task_runner(address))
    from flows.run_hooks import RUNS_IN_FLIGHT

    with RUNS_IN_FLIGHT.running(), tags(*([f"parent:{resume_from}"] if resume_from else [])):
        _start_temporary_server_once()
        _refuse_a_silent_prefect_server()
        state = named(
            workflow=loaded.source,
            inputs=loaded.inputs,
            yaml_text=loaded.text,
            trusted_paths=trusted_paths,
            resume_from=resume_from,
            from_node=from_node,
            allow_changed=allow_changed,
            return_state=True,
        )
    data = state.result(raise_on_failure=False)
    if isinstance(data, ResumeRefused):  # refused inside the flow, before any node ran: not a crash
        raise ResumeRefused(data.message, **data.fields) from None
    if isinstance(data, BaseException):
        # a lakehouse error says what and where in its own words; a bare machine error is put in words
        reason = (
            str(data) if isinstance(data, LakehouseError) else machine_problem(data) or f"{type(data).__name__}: {data}"
        )
        raise WorkflowCrashed(f"workflow {loaded.name!r} crashed: {reason}") from data
    return RunResult.model_validate(data)
