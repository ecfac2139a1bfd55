"""Workflow runs submitted over HTTP: resolved, checked, run through Prefect, answered with ops.

`?wait=false` runs go to a small worker pool and are tracked under an id returned at once; the
tracker keeps the newest `keep` runs in memory (a long-lived server must not grow without bound)
and a record of each in the object store (`_runs/submissions/`), so the id still answers after
the tracker forgot it or the API restarted, and a run the API stopped before it started says so.
"""

from __future__ import annotations

import contextvars
import logging
import os
import queue
import re
import threading
import uuid
from collections import OrderedDict
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from flows.http.errors import ApiError
from lakehouse.common.processes import process_alive, process_identity
from lakehouse.observe.observer import now_utc


class WorkflowRequest(BaseModel):
    """A workflow given as YAML text or by the name of a shipped or saved workflow."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [  # exactly one source
                {"required": ["yaml"], "properties": {"yaml": {"type": "string"}, "workflow": {"type": "null"}}},
                {"required": ["workflow"], "properties": {"workflow": {"type": "string"}, "yaml": {"type": "null"}}},
            ]
        },
    )
    yaml: str | None = Field(default=None, description="the workflow file's text (at most 1 MiB)")
    workflow: str | None = Field(default=None, max_length=1_024, description="name of a shipped or saved workflow")
    inputs: dict[str, Any] = Field(default_factory=dict, description="values for the workflow's inputs")

    @model_validator(mode="after")
    def _one_source(self) -> WorkflowRequest:
        if (self.yaml is None) == (self.workflow is None):
            raise ValueError("give exactly one of `yaml` (workflow text) or `workflow` (a name)")
        return self


def workflow_error(exc: Exception) -> ApiError:
    issues = [
        {"file": i.file, "node": i.node, "field": i.field, "message": i.message} for i in getattr(exc, "issues", [])
    ]
    count = len(issues)
    return ApiError(
        422,
        "workflow_invalid",
        f"the workflow has {count} problem{'s' if count != 1 else ''}: "
        + "; ".join(
            f"{i['node'] or '-'}.{i['field']}: {i['message']}" if i["field"] else f"{i['node'] or '-'}: {i['message']}"
            for i in issues
        ),
        {"issues": issues},
    )


def load_request(req: WorkflowRequest):
    """Check the workflow and its inputs; a name must be one `find_workflows` knows (never a path)."""
    from flows.loader import (
        WorkflowError,
        find_workflows,
        load_workflow,
        load_workflow_text,
        suggest,
    )

    try:
        if req.yaml is not None:
            return load_workflow_text(req.yaml, "<request>", req.inputs)
        assert req.workflow is not None  # `_one_source`: no yaml, so a workflow name
        known = find_workflows()
        if req.workflow not in known:
            raise ApiError(
                404,
                "unknown_workflow",
                f"unknown workflow {req.workflow!r}{suggest(req.workflow, set(known))} "
                f"(known: {', '.join(sorted(known)) or 'none'})",
                {"workflow": req.workflow, "known": sorted(known)},
            )
        return load_workflow(known[req.workflow], req.inputs)
    except WorkflowError as exc:
        raise workflow_error(exc) from None


def run_ops(run_id: str) -> list[dict[str, Any]]:
    """The ops of a run, from the observer the runner records into: its ring for runs of this
    process (no log scan), else the shared log."""
    from flows.runner import current_lakehouse

    observer = current_lakehouse().observer
    return observer.ring_ops(run_id) or observer.ops(run_id=run_id)


def run_loaded(loaded) -> dict[str, Any]:
    """Run through Prefect (blocking); the CLI's `--json` object plus the run's ObservedOps."""
    from flows.runner import run_workflow

    # submitted over HTTP: the nodes' paths must stay under the lakehouse's roots
    result = run_workflow(loaded, trusted_paths=False).model_dump(mode="json")
    result["ops"] = run_ops(result["run_id"])
    return result


RunStatus = Literal["queued", "running", "completed", "failed", "crashed", "cancelled"]
SUBMISSION_ID = re.compile(r"[0-9a-f]{32}")  # what `RunTracker.submit` answers: only such ids are looked up
STOPPED_BEFORE_START = "the API stopped before the run started: submit it again"
STOPPED_WHILE_RUNNING = (
    "the API process running it stopped before it finished; its ops show how far it got, and "
    "POST /v1/observer/runs/{flow_run_id}/resume runs the rest"
)
log = logging.getLogger(__name__)
HOLDER = process_identity(os.getpid())  # which process holds this API's runs (its pid may come round)


@dataclass
class TrackedRun:
    run_id: str
    workflow: str
    submitted_at: datetime
    status: RunStatus = "queued"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    flow_run_id: str | None = None  # once the flow has started
    result: dict[str, Any] | None = field(default=None, repr=False)

    def view(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "workflow": self.workflow,
            "status": self.status,
            "flow_run_id": self.flow_run_id or (self.result or {}).get("run_id"),
            "submitted_at": self.submitted_at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "error": self.error,
            "result": self.result,
        }


MAX_WAITING = 32  # `?wait=false` runs queued before a submission is refused: memory and fairness


class _DaemonWorkers:
    """A fixed set of worker threads the interpreter does not wait for at exit: ThreadPoolExecutor's
    are joined, so one run paused for an approval held a stopping API for the pause's hour. The
    threads start with the first run and end at `stop` (an app that ran nothing leaves none)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._queue: queue.SimpleQueue[tuple[Future[None], Any, tuple[Any, ...]] | None] = queue.SimpleQueue()
        self._started = False
        self._guard = threading.Lock()

    def submit(self, fn: Any, *args: Any) -> Future[None]:
        with self._guard:
            if not self._started:
                for number in range(self.workers):
                    threading.Thread(target=self._work, name=f"lakehouse-run-{number}", daemon=True).start()
                self._started = True
        future: Future[None] = Future()
        self._queue.put((future, fn, args))
        return future

    def stop(self) -> None:
        """Each worker ends after what it runs (runs still queued are the caller's to cancel first)."""
        for _ in range(self.workers):
            self._queue.put(None)

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            future, fn, args = item
            if not future.set_running_or_notify_cancel():
                continue  # cancelled while it waited
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # kept on the future, as ThreadPoolExecutor does
                future.set_exception(exc)


class RunTracker:
    def __init__(self, workers: int = 2, keep: int = 1000, max_waiting: int = MAX_WAITING, records: Any = None) -> None:
        self.keep, self.max_waiting = keep, max_waiting
        self.records = records  # a flows.outputs.RunStore, or None: nothing kept past the process
        self.instance = uuid.uuid4().hex  # this tracker: a restarted API may get the same pid again
        self._runs: OrderedDict[str, TrackedRun] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = _DaemonWorkers(workers)
        self._pending: dict[str, Future[None]] = {}  # runs not finished yet, by id
        self._stopping = False

    def submit(self, loaded) -> TrackedRun:
        """Track and queue a run; 429 when `max_waiting` runs wait to start already (a client that
        submits without end would otherwise hold the queue, and the memory, for everyone)."""
        run = TrackedRun(run_id=uuid.uuid4().hex, workflow=loaded.name, submitted_at=now_utc())
        with self._lock:
            waiting = sum(r.status == "queued" for r in self._runs.values())
            if waiting >= self.max_waiting:
                raise ApiError(
                    429,
                    "too_many_runs",
                    f"{waiting} workflow runs already wait to start (at most {self.max_waiting}): submit again once "
                    "one has started, or run with wait=true",
                    {"waiting": waiting},
                )
            if self.records is not None:
                self.records.write_submission(self._record(run))  # no id is answered that cannot be followed
            self._runs[run.run_id] = run
            while len(self._runs) > self.keep:
                self._runs.popitem(last=False)
        # The worker runs in the submitter's context, so Prefect settings in force here apply there.
        future = self._pool.submit(contextvars.copy_context().run, self._execute, run, loaded)
        with self._lock:
            self._pending[run.run_id] = future
        future.add_done_callback(lambda _: self._forget_pending(run.run_id))
        return run

    def _forget_pending(self, run_id: str) -> None:
        with self._lock:
            self._pending.pop(run_id, None)

    def _execute(self, run: TrackedRun, loaded) -> None:
        from flows.run_hooks import FLOW_RUN_STARTED

        run.status, run.started_at = "running", now_utc()
        FLOW_RUN_STARTED.set(lambda flow_run_id: self._started(run, flow_run_id))
        try:
            run.result = run_loaded(loaded)
            run.status = run.result["status"]
        except Exception as exc:  # the flow itself broke; keep the reason for the poller
            run.status, run.error = "crashed", f"{type(exc).__name__}: {exc}"
            if self._stopping and run.flow_run_id is not None:  # the interpreter's exit broke it
                run.error = STOPPED_WHILE_RUNNING.format(flow_run_id=run.flow_run_id) + f" ({run.error})"
        finally:
            run.finished_at = now_utc()
            self._save(run)

    def _started(self, run: TrackedRun, flow_run_id: str) -> None:
        # The first flow to start is the run's own; a sub-workflow's subflow starts in its context too.
        if run.flow_run_id is None:
            run.flow_run_id = flow_run_id
            self._save(run)

    def _save(self, run: TrackedRun) -> None:
        """Keep the run's new state; a record that cannot be written is logged, never the run's failure."""
        if self.records is None:
            return
        try:
            self.records.write_submission(self._record(run))
        except Exception as exc:  # the store's errors, OSError: the run goes on, the memory still knows
            log.warning("could not record the state of run %s: %s", run.run_id, exc)

    def _record(self, run: TrackedRun) -> dict[str, Any]:
        """What the store keeps of a run: its view without the result (ops come from the op log)
        and the process holding it (a record left queued or running by a process that is gone is a
        run that process dropped)."""
        return {**run.view(), "result": None, "pid": os.getpid(), "holder": HOLDER, "instance": self.instance}

    def _holder_alive(self, record: dict[str, Any]) -> bool:
        if record.get("instance") == self.instance:
            return True
        pid = record.get("pid")
        # a pid alone: once reused by any process, a dead API's run read "running" for ever
        return pid != os.getpid() and process_alive(pid, record.get("holder"))

    def recorded(self, run_id: str) -> dict[str, Any] | None:
        """A submission's view from its record, for an id the tracker no longer holds (forgotten,
        or submitted before the API restarted); None when there is no such record."""
        if self.records is None or not SUBMISSION_ID.fullmatch(run_id):
            return None
        record = self.records.read_submission(run_id)
        if record is None or record.get("run_id") != run_id or record.get("status") not in get_args(RunStatus):
            return None  # not a record this tracker wrote: as if there were none
        record.setdefault("flow_run_id", None)
        record.setdefault("error", None)
        if record["status"] in ("queued", "running") and not self._holder_alive(record):
            record.update(self._ended(record["flow_run_id"]))
        record.pop("pid", None)
        record.pop("holder", None)
        record.pop("instance", None)
        return record

    def _ended(self, flow_run_id: str | None) -> dict[str, Any]:
        """How a run its process left queued or running ended: never started; its flow ended there
        (the flow's lock file is gone: the process stopped after the flow, before the record said
        so), as its ops tell; or stopped inside the flow (the lock file left, unheld)."""
        from flows.run_lock import ended_here
        from flows.runner import current_lakehouse

        if flow_run_id is None:
            return {"status": "cancelled", "error": STOPPED_BEFORE_START}
        ops = [] if ended_here(current_lakehouse().settings.home_dir, flow_run_id) else run_ops(flow_run_id)
        if not ops:
            return {"status": "crashed", "error": STOPPED_WHILE_RUNNING.format(flow_run_id=flow_run_id)}
        failed = any(op.get("status") == "failed" for op in ops)
        return {"status": "failed" if failed else "completed", "error": None}

    def get(self, run_id: str) -> TrackedRun | None:
        with self._lock:
            return self._runs.get(run_id)

    def flow_run_id(self, run_id: str) -> str:
        """The Prefect flow-run id a run id names: a `?wait=false` submission's once its flow has
        started (409 before, or when it never will), any other id as it is."""
        tracked = self.get(run_id)
        state = tracked.view() if tracked is not None else self.recorded(run_id)
        if state is None:
            return run_id
        if state["flow_run_id"] is None:
            status = state["status"]
            waiting = status in ("queued", "running")
            raise ApiError(
                409,
                "run_not_started",
                f"run {run_id!r} is {status} and has no flow run yet: try again once "
                f"GET /v1/observer/runs/{run_id} shows its flow_run_id"
                if waiting
                else f"run {run_id!r} is {status} and never started a flow run: {state['error']}",
                {"run_id": run_id, "status": status},
            )
        return state["flow_run_id"]

    def close(self, grace_s: float = 30.0) -> None:
        """Stop: runs still waiting to start are cancelled (their records say so), and those running
        get `grace_s` seconds to finish; then the process may exit without them (they read as
        crashed, and resume runs the rest)."""
        self._stopping = True
        with self._lock:
            pending = [(self._runs.get(run_id), future) for run_id, future in self._pending.items()]
        running = []
        for run, future in pending:
            if future.cancel():  # it had not started
                if run is not None:
                    run.status, run.error, run.finished_at = "cancelled", STOPPED_BEFORE_START, now_utc()
                    self._save(run)
            else:
                running.append(future)
        self._pool.stop()
        if running:
            log.warning("waiting up to %.0f s for %d workflow run(s) to finish", grace_s, len(running))
            wait(running, timeout=grace_s)
