"""Workflow runs submitted over HTTP: resolved, checked, run through Prefect, answered with ops.

`?wait=false` runs go to a small worker pool and are tracked under an id returned at once; the
tracker keeps the newest `keep` runs (a long-lived server must not grow without bound).
"""

from __future__ import annotations

import contextvars
import threading
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from flows.http.errors import ApiError
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


RunStatus = Literal["queued", "running", "completed", "failed", "crashed"]


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


class RunTracker:
    def __init__(self, workers: int = 2, keep: int = 1000, max_waiting: int = MAX_WAITING) -> None:
        self.keep, self.max_waiting = keep, max_waiting
        self._runs: OrderedDict[str, TrackedRun] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lakehouse-run")

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
            self._runs[run.run_id] = run
            while len(self._runs) > self.keep:
                self._runs.popitem(last=False)
        # The worker runs in the submitter's context, so Prefect settings in force here apply there.
        self._pool.submit(contextvars.copy_context().run, self._execute, run, loaded)
        return run

    def _execute(self, run: TrackedRun, loaded) -> None:
        from flows.run_hooks import FLOW_RUN_STARTED

        run.status, run.started_at = "running", now_utc()
        FLOW_RUN_STARTED.set(lambda flow_run_id: self._started(run, flow_run_id))
        try:
            run.result = run_loaded(loaded)
            run.status = run.result["status"]
        except Exception as exc:  # the flow itself broke; keep the reason for the poller
            run.status, run.error = "crashed", f"{type(exc).__name__}: {exc}"
        finally:
            run.finished_at = now_utc()

    @staticmethod
    def _started(run: TrackedRun, flow_run_id: str) -> None:
        # The first flow to start is the run's own; a sub-workflow's subflow starts in its context too.
        if run.flow_run_id is None:
            run.flow_run_id = flow_run_id

    def get(self, run_id: str) -> TrackedRun | None:
        with self._lock:
            return self._runs.get(run_id)

    def flow_run_id(self, run_id: str) -> str:
        """The Prefect flow-run id a run id names: a `?wait=false` submission's once its flow has
        started (409 before), any other id as it is."""
        tracked = self.get(run_id)
        if tracked is None:
            return run_id
        if tracked.flow_run_id is None:
            raise ApiError(
                409,
                "run_not_started",
                f"run {run_id!r} is {tracked.status} and has no flow run yet: try again once "
                f"GET /v1/observer/runs/{run_id} shows its flow_run_id",
                {"run_id": run_id, "status": tracked.status},
            )
        return tracked.flow_run_id

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
