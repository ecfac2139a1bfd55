"""`/v1/observer/*`: submit, validate and list workflows; follow runs; read ops and stats; events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from flows.http.calls import lakehouse_of
from flows.http.errors import ApiError, error_responses
from flows.http.limits import NAME_MAX_CHARS, TEXT_MAX_CHARS
from flows.http.runs import WorkflowRequest, load_request, run_loaded, run_ops, workflow_error
from lakehouse.observe.observer import ObservedOp, Source, Status, now_utc

router = APIRouter(prefix="/v1/observer", tags=["observer"])


MAX_EVENT_DURATION = timedelta(days=31)  # an approval node may wait 30 days


class EventIn(BaseModel):
    """An external event for the op ring and log (recorded with `source: event`)."""

    model_config = ConfigDict(extra="forbid")
    mode: str | None = Field(
        default=None, max_length=NAME_MAX_CHARS, description="what happened, e.g. `deploy.finished`"
    )
    status: Status = "completed"
    workflow: str | None = Field(default=None, max_length=NAME_MAX_CHARS)
    run_id: str | None = Field(default=None, max_length=NAME_MAX_CHARS)
    node_id: str | None = Field(default=None, max_length=NAME_MAX_CHARS)
    attempt: int = Field(default=1, ge=0, le=1_000_000)
    error: str | None = Field(default=None, max_length=TEXT_MAX_CHARS)
    input: Any = None
    output: Any = None
    model: str | None = Field(default=None, max_length=NAME_MAX_CHARS)
    tokens: int | None = Field(default=None, ge=0, le=2**53)
    # a timestamp is an ISO 8601 string; a number (`0`) is refused (check_body validates strictly)
    ts_start: datetime | None = Field(default=None, description="ISO 8601; no zone means UTC")
    ts_end: datetime | None = Field(default=None, description="ISO 8601; no zone means UTC")


def _aware(ts: datetime | None) -> datetime | None:
    """A timestamp without a zone is taken as UTC (the log is all UTC)."""
    return ts.replace(tzinfo=UTC) if ts is not None and ts.tzinfo is None else ts


@router.post(
    "/workflow/run", summary="Run a workflow (YAML text or a name) through Prefect", responses=error_responses(429)
)
def submit_workflow(
    request: Request, body: WorkflowRequest, wait: bool = Query(True, description="wait for the result")
):
    """Answers the per-node results and the run's ObservedOps (`lakehouse workflow run --json` plus
    `ops`). With `?wait=false` it answers 202 with a run id at once; poll `/v1/observer/runs/{id}`."""
    loaded = load_request(body)
    if not wait:
        run = request.app.state.runs.submit(loaded)
        return JSONResponse(
            {
                "run_id": run.run_id,
                "workflow": run.workflow,
                "status": run.status,
                "url": f"/v1/observer/runs/{run.run_id}",
            },
            status_code=202,
        )
    return run_loaded(loaded)


class ResumeIn(BaseModel):
    """How to resume a run (`lakehouse workflow resume`)."""

    model_config = ConfigDict(extra="forbid")
    from_node: str | None = Field(
        default=None, max_length=NAME_MAX_CHARS, description="re-run this node and everything downstream of it"
    )
    allow_changed: bool = Field(
        default=False, description="resume although the workflow changed: changed nodes and their downstream re-run"
    )


@router.post("/runs/{run_id}/resume", summary="Resume a run as a new run (completed nodes are reused)")
def resume_run(request: Request, run_id: str, body: ResumeIn | None = None) -> dict[str, Any]:
    """Blocking, like `POST /workflow/run`: the new run's per-node results and ObservedOps, plus
    `parent_run_id`, `reused` (nodes whose parent output was kept) and `rerun` (node -> why).
    `run_id` is a Prefect flow-run id or the id a `?wait=false` submission answered. 404: no record
    of the run; 409: the workflow changed (unless `allow_changed`), or the submission has not
    started; 422: unknown `from_node`. The nodes' paths stay under the lakehouse's roots (as for
    any HTTP run)."""
    from flows.loader import WorkflowError
    from flows.resume import resume_run as resume

    body = body or ResumeIn()
    try:
        flow_run_id = request.app.state.runs.flow_run_id(run_id)
        outcome = resume(flow_run_id, from_node=body.from_node, allow_changed=body.allow_changed, trusted_paths=False)
    except WorkflowError as exc:  # the workflow file changed so that it (or the parent's inputs) no longer checks
        raise workflow_error(exc) from None
    answer = outcome.view()
    answer["ops"] = run_ops(answer["run_id"])
    return answer


@router.get("/runs/{run_id}", summary="Status and results of a submitted run")
def get_run(request: Request, run_id: str) -> dict[str, Any]:
    """A run submitted with `?wait=false` (by the id it returned), or any run by its Prefect flow-run
    id (then answered from its recorded ops)."""
    tracked = request.app.state.runs.get(run_id)
    if tracked is not None:
        view = tracked.view()
        if view["error"]:
            view["error"] = request.app.state.redact(view["error"])
        return view
    recorded = request.app.state.runs.recorded(run_id)  # submitted before a restart, or long ago
    if recorded is not None:
        flow_run_id = recorded.get("flow_run_id")
        if recorded.get("error"):
            recorded["error"] = request.app.state.redact(recorded["error"])
        return {**recorded, "ops": run_ops(flow_run_id) if flow_run_id else []}
    ops = run_ops(run_id)
    if not ops:
        raise ApiError(
            404, "unknown_run", f"no run {run_id!r}: not submitted here and no ops recorded for it", {"run_id": run_id}
        )
    failed = any(op.get("status") == "failed" for op in ops)
    return {
        "run_id": run_id,
        "workflow": ops[0].get("workflow"),
        "status": "failed" if failed else "completed",
        "flow_run_id": run_id,
        "result": None,
        "ops": ops,
    }


@router.get("/workflow/list", summary="Shipped and saved workflows")
def list_workflows() -> dict[str, Any]:
    from flows.loader import find_workflows, read_description

    workflows = []
    for name, path in sorted(find_workflows().items()):
        description = read_description(path)  # None when unreadable: `validate` says why
        workflows.append({"name": name, "path": str(path), "description": description})
    return {"workflows": workflows, "count": len(workflows)}


@router.post("/workflow/validate", summary="Check a workflow without running it")
def validate_workflow(body: WorkflowRequest) -> dict[str, Any]:
    """Every problem at once (422 `workflow_invalid` with `details.issues`), or the checked plan."""
    loaded = load_request(body)
    return {
        "valid": True,
        "workflow": loaded.name,
        "nodes": loaded.order,
        "layers": loaded.layers,
        "inputs": loaded.inputs,
    }


@router.get("/ops", summary="Recorded ObservedOps, newest last")
def list_ops(
    request: Request,
    run_id: str | None = None,
    workflow: str | None = None,
    source: Source | None = Query(None, description="workflow | mode | event | http"),
    mode: str | None = None,
    status: Status | None = Query(None, description="completed | failed | skipped"),
    top: int | None = Query(None, ge=1, le=10_000, description="keep the newest N (default 100), as the CLI's --top"),
    limit: int | None = Query(None, ge=1, le=10_000, description="the older name of `top`"),
) -> dict[str, Any]:
    if top is not None and limit is not None and top != limit:
        raise ApiError(
            400, "invalid_request", f"top={top} and limit={limit} disagree: give one", {"fields": [{"field": "top"}]}
        )
    newest = top or limit or 100
    # read from the log's end: the whole log per call took seconds and hundreds of MB on a long one
    rows = lakehouse_of(request).observer.ops(
        run_id=run_id, workflow=workflow, limit=newest, source=source, mode=mode, status=status
    )
    return {"ops": rows, "count": len(rows)}


@router.get("/stats", summary="Counts and latency percentiles over the op log")
def stats(request: Request) -> dict[str, Any]:
    return lakehouse_of(request).observer.stats()


@router.post("/event", summary="Record an external event as an ObservedOp")
def record_event(request: Request, body: EventIn) -> dict[str, Any]:
    """A full ring evicts its oldest op and still accepts; the log keeps everything."""
    lakehouse = lakehouse_of(request)
    fields = body.model_dump(exclude={"ts_start", "ts_end", "input", "output"})
    ended = _aware(body.ts_end)
    started = _aware(body.ts_start) or ended or now_utc()  # only an end: an instant event
    ended = ended or started
    if ended < started:
        raise ApiError(422, "invalid_request", "ts_end is before ts_start", {"fields": [{"field": "ts_end"}]})
    # ops stats take percentiles of durations: one event from the future or lasting years skews them
    if ended > now_utc() + timedelta(days=1):
        message = f"ts_end {ended.isoformat()} is in the future: give the time the event ended"
        raise ApiError(422, "invalid_request", message, {"fields": [{"field": "ts_end"}]})
    if ended - started > MAX_EVENT_DURATION:
        message = (
            f"the event lasts {(ended - started).days:,} days (ts_start {started.isoformat()}, ts_end "
            f"{ended.isoformat()}); at most {MAX_EVENT_DURATION.days} days are accepted: record one operation"
        )
        raise ApiError(422, "invalid_request", message, {"fields": [{"field": "ts_start"}, {"field": "ts_end"}]})
    op = ObservedOp.build(
        ts_start=started,
        ts_end=ended,
        input=body.input,
        output=body.output,
        source="event",
        summary_chars=lakehouse.settings.ops_summary_chars,
        **fields,
    )
    return lakehouse.observer.record(op).model_dump(mode="json")
