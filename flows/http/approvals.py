"""`/v1/observer/runs/{run_id}/approve` and `/v1/observer/approvals`: answer and list approval nodes
that paused their run (flows/approval.py; the same as `lakehouse workflow approve|approvals`).

The paused runs live on the Prefect server this API talks to (PREFECT_API_URL, or the one `lakehouse
server start` runs); without one every call is a 503. Errors come from the kinds: no such run 404, not
paused / paused on another node / timed out 409, a rejection without a reason 400.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from flows.approval import BY_MAX_CHARS, REASON_MAX_CHARS, ApprovalAnswer, PendingApproval
from flows.http.errors import error_responses
from flows.http.limits import NAME_MAX_CHARS

router = APIRouter(prefix="/v1/observer", tags=["observer"])


class ApproveIn(BaseModel):
    """The answer to an approval node."""

    model_config = ConfigDict(extra="forbid")
    node: str = Field(min_length=1, max_length=NAME_MAX_CHARS, description="the approval node the run waits on")
    approve: bool = Field(default=True, description="false: reject (then `reason` is required)")
    reason: str | None = Field(
        default=None, max_length=REASON_MAX_CHARS, description="why; an on_reject node reads it as $NODE.output.reason"
    )
    by: str | None = Field(default=None, max_length=BY_MAX_CHARS, description="who answers")


class ApprovalsOut(BaseModel):
    approvals: list[PendingApproval]
    count: int


@router.post(
    "/runs/{run_id}/approve",
    summary="Approve or reject the approval node a paused run waits on, and resume it",
    response_model=ApprovalAnswer,
)
def approve_run(request: Request, run_id: str, body: ApproveIn) -> Any:
    """`run_id` is the Prefect flow-run id, or the id a `?wait=false` submission answered. Answers
    `{run_id, workflow, node, approved, reason, by}` (`run_id`: the flow run's) once the run is
    resumed (not when it finishes: follow it with `GET /v1/observer/runs/{run_id}`)."""
    from flows.approval import approve

    return approve(
        request.app.state.runs.flow_run_id(run_id), body.node, approved=body.approve, reason=body.reason, by=body.by
    )


class ApprovalsQuery(BaseModel):
    """The listing's query; an unknown parameter is refused (422), not ignored."""

    model_config = ConfigDict(extra="forbid")
    limit: int = Field(200, ge=1, le=200, description="at most this many runs (up to 200)")


@router.get(
    "/approvals",
    summary="Runs paused on an approval node, newest first",
    response_model=ApprovalsOut,
    responses=error_responses(503),
)
def list_approvals(query: Annotated[ApprovalsQuery, Query()]) -> Any:
    """Each with `run_id`, `workflow`, `node`, `message`, `since` (when it paused) and `expires`."""
    from flows.approval import pending_approvals

    pending = pending_approvals(limit=query.limit)
    return {"approvals": pending, "count": len(pending)}
