"""Approval gates: a workflow node that pauses its Prefect flow run until someone approves or rejects it.

The flow side (`await_approval`, called by the runner from the flow's own thread) pauses the flow run
with Prefect's `pause_flow_run(wait_for_input=ApprovalInput)`, so the Prefect UI shows the run as
Paused with a form (`approved`, `reason`, `by`) and its "Resume" button works too. The caller side
(`approve`, `pending_approvals`; used by `lakehouse workflow approve|approvals` and
`/v1/observer/runs/{id}/approve`, `/v1/observer/approvals`) reads the paused run from the Prefect API and
resumes it with the answer as the run input.

A pause needs a Prefect server that another process can reach: with Prefect's ephemeral in-process
server (no PREFECT_API_URL) nobody could answer, so the node fails at once and says to start one.

Prefect keys a pause (and the flow-run inputs that carry its form and answer) by a "pause key" of
lowercase letters, digits and dashes; node ids may hold capitals and underscores, so `pause_key` maps
them, and a small flow-run input (`lakehouse-approval-<key>`) keeps the node id, workflow and message
for the caller side and for listings.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

from prefect.input import RunInput
from pydantic import BaseModel, Field

from flows.errors import ApprovalRefused, NodeFailed, PrefectUnavailable, RunRecordNotFound
from flows.run_lock import ended_here
from flows.spec import ApprovalOutcome, ApprovalSpec
from lakehouse.config import get_settings
from lakehouse.errors import UserError

__all__ = [
    "ApprovalInput",
    "ApprovalRefused",
    "ApprovalAnswer",
    "PendingApproval",
    "PrefectUnavailable",
    "approve",
    "await_approval",
    "pause_key",
    "pending_approvals",
    "prefect_api_url",
]

REASON_MAX_CHARS = 10_000
BY_MAX_CHARS = 200
_INFO_PREFIX = "lakehouse-approval-"
_KEY_OK = re.compile(r"^[a-z0-9-]+$")
# The paused run's form schema is saved just after the Paused state is set: an answer that comes in
# between is refused by the server with this reason, and is simply sent again.
_SCHEMA_NOT_SAVED = "Run input schema not found."
_SCHEMA_WAIT_S = 10.0


class ApprovalInput(RunInput):
    """The form the Prefect UI shows for a paused approval node; also what `approve` sends."""

    approved: bool = Field(description="checked: approve; unchecked: reject")
    reason: str | None = Field(default=None, max_length=REASON_MAX_CHARS, description="why (required to reject)")
    by: str | None = Field(default=None, max_length=BY_MAX_CHARS, description="who answers")


class PendingApproval(BaseModel):
    """A flow run paused on an approval node."""

    run_id: str
    flow_run_name: str | None = None
    workflow: str | None = None
    node: str
    message: str | None = None
    since: datetime | None = Field(default=None, description="when the run paused")
    expires: datetime | None = Field(default=None, description="when the approval times out")


class ApprovalAnswer(BaseModel):
    """What `approve` did: the run it resumed and the answer it gave."""

    run_id: str
    workflow: str | None = None
    node: str
    approved: bool
    reason: str | None = None
    by: str | None = None


def pause_key(node_id: str) -> str:
    """Prefect's pause key for a node: the id itself when it is already lowercase letters, digits and
    dashes, else a slug of it plus a short hash (so `Gate_1` and `gate-1` stay apart)."""
    if _KEY_OK.match(node_id):
        return node_id
    slug = re.sub(r"[^a-z0-9-]+", "-", node_id.lower()).strip("-") or "node"
    return f"{slug[:60]}-{hashlib.sha256(node_id.encode()).hexdigest()[:8]}"


def _info_key(key: str) -> str:
    return _INFO_PREFIX + key


def prefect_api_url() -> str | None:
    """The Prefect API this process talks to; None when Prefect would start its own ephemeral one."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


def _seconds(value: float) -> str:
    return f"{value:g}"


# ------------------------------------------------------------------------------------------ flow side
# A flow run has one Paused state at a time: two gates of one run that are ready together pause in
# turn (each one's timeout counts from its own pause).
_pausing: set[str] = set()
_pausing_changed = threading.Condition()


@contextmanager
def _one_pause_at_a_time(flow_run_id: str) -> Iterator[None]:
    with _pausing_changed:
        _pausing_changed.wait_for(lambda: flow_run_id not in _pausing)
        _pausing.add(flow_run_id)
    try:
        yield
    finally:
        with _pausing_changed:
            _pausing.discard(flow_run_id)
            _pausing_changed.notify_all()


def _announce(text: str) -> None:
    """Where a waiting gate is announced besides the Prefect run log: the terminal running the flow."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def await_approval(node_id: str, spec: ApprovalSpec, run_id: str, workflow: str) -> ApprovalOutcome:
    """Pause the current flow run until node `node_id` is approved or rejected; the answer.

    Runs in the flow's own thread (a Prefect flow-run context is active). Raises NodeFailed when the
    run cannot pause (no Prefect server another process could resume it from) or when nobody answers
    within `spec.timeout_s` (the run is then set back to Running so its other branches finish)."""
    from prefect.context import FlowRunContext
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import pause_flow_run
    from prefect.logging import get_run_logger

    if prefect_api_url() is None:
        raise NodeFailed(
            f"approval of {node_id} needs a Prefect server that `lakehouse workflow approve` can reach; this run "
            "uses Prefect's ephemeral in-process one: start one with `lakehouse server start` and run again"
        )
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        raise NodeFailed(f"approval of {node_id} must run inside a Prefect flow run")
    flow_run_id = str(context.flow_run.id)
    key = pause_key(node_id)
    hint = f"lakehouse workflow approve {flow_run_id} {node_id}  (or --reject --reason R)"
    form = ApprovalInput.with_initial_data(
        description=f"**Approval `{node_id}`** ({workflow})\n\n{spec.message}\n\n"
        f"Leave `approved` checked to approve; uncheck it and give a reason to reject. CLI: `{hint}`",
        approved=True,
    )
    info = {"node": node_id, "workflow": workflow, "message": spec.message, "timeout_s": spec.timeout_s}
    with _one_pause_at_a_time(flow_run_id):
        _save_info(UUID(flow_run_id), key, info)
        get_run_logger().info("waiting for approval of %s: %s — %s", node_id, spec.message, hint)
        _announce(f"waiting for approval of {node_id} (run {run_id}): {spec.message}\n  {hint}")
        timeout = max(1, math.ceil(spec.timeout_s))
        try:
            answer = pause_flow_run(wait_for_input=form, timeout=timeout, poll_interval=1, key=key)
        except FlowPauseTimeout:
            _run_again(flow_run_id)
            raise NodeFailed(f"approval of {node_id} timed out after {_seconds(spec.timeout_s)} s") from None
        except RuntimeError as exc:  # the server refused the pause (e.g. this key has fired already)
            raise NodeFailed(f"approval of {node_id} could not pause the run: {exc}") from None
    return ApprovalOutcome(approved=answer.approved, reason=answer.reason, by=answer.by)


def _save_info(flow_run_id: UUID, key: str, info: dict[str, Any]) -> None:
    import httpx
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        try:
            client.create_flow_run_input(flow_run_id, _info_key(key), json.dumps(info))
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != 409:  # 409: this key paused before; the pause itself says so
                raise


def _run_again(flow_run_id: str) -> None:
    """After a pause timed out the run is still Paused (and Prefect would hold every new task run in
    NotReady): put it back to Running, bypassing the rule that refuses to leave an expired pause. A run
    cancelled meanwhile (from the UI) is left as it is."""
    from prefect.client.orchestration import get_client
    from prefect.states import Running

    with get_client(sync_client=True) as client:
        state = client.read_flow_run(UUID(flow_run_id)).state
        if state is not None and state.is_paused():
            client.set_flow_run_state(flow_run_id, Running(), force=True)


# ---------------------------------------------------------------------------------------- caller side
@contextmanager
def _client() -> Iterator[Any]:
    """A Prefect API client, or PrefectUnavailable (never Prefect's ephemeral server: a run paused in
    another process cannot be seen from one)."""
    import httpx
    from prefect.client.orchestration import get_client

    url = prefect_api_url()
    if url is None:
        raise PrefectUnavailable(
            "no Prefect server: PREFECT_API_URL is not set and no `lakehouse server start` server is running"
        )
    try:
        with get_client(sync_client=True) as client:
            yield client
    except httpx.TransportError as exc:
        raise PrefectUnavailable(f"the Prefect server at {url} is unreachable: {type(exc).__name__}: {exc}") from None


def _flow_run_id(run_id: str) -> UUID:
    try:
        return UUID(run_id)
    except ValueError:
        raise RunRecordNotFound(
            f"no flow run {run_id!r}: run ids are Prefect flow-run ids (UUIDs)", run_id=run_id
        ) from None


def _read_run(client: Any, run_id: str) -> Any:
    from prefect.exceptions import ObjectNotFound

    flow_run_id = _flow_run_id(run_id)
    try:
        return client.read_flow_run(flow_run_id)
    except ObjectNotFound:
        raise RunRecordNotFound(f"no flow run {run_id!r} on the Prefect server", run_id=run_id) from None


def _read_info(client: Any, flow_run_id: UUID, key: str) -> dict[str, Any]:
    import httpx

    try:
        value = json.loads(client.read_flow_run_input(flow_run_id, _info_key(key)))
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code == 404:
            return {}  # paused by something else than an approval node
        raise
    return value if isinstance(value, dict) else {}


def _pending(client: Any, flow_run: Any) -> PendingApproval | None:
    state = flow_run.state
    if state is None or not state.is_paused():
        return None
    key = state.state_details.pause_key or ""
    info = _read_info(client, flow_run.id, key) if key else {}
    return PendingApproval(
        run_id=str(flow_run.id),
        flow_run_name=flow_run.name,
        workflow=info.get("workflow"),
        node=info.get("node") or key,
        message=info.get("message"),
        since=state.timestamp,
        expires=state.state_details.pause_timeout,
    )


def _waiting(client: Any, run_id: str) -> tuple[Any, PendingApproval]:
    """The flow run and the approval it is paused on; ApprovalRefused when it is not paused."""
    flow_run = _read_run(client, run_id)
    pending = _pending(client, flow_run)
    if pending is None:
        state = flow_run.state.name if flow_run.state else "no state"
        raise ApprovalRefused(f"run {run_id} is not waiting for an approval (state: {state})", run_id=run_id)
    return flow_run, pending


def pending_approvals(limit: int = 200) -> list[PendingApproval]:
    """Every flow run paused now (newest first, at most `limit`, which Prefect caps at 200), with
    the node and message of its approval."""
    limit = max(1, min(limit, 200))
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    paused = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])))
    with _client() as client:
        runs = client.read_flow_runs(flow_run_filter=paused, sort=FlowRunSort.START_TIME_DESC, limit=limit)
        found = [_pending(client, run) for run in runs]
    home = get_settings().home_dir
    return [p for p in found if p is not None and not ended_here(home, p.run_id)]  # nobody waits on those


def approve(
    run_id: str, node: str, *, approved: bool = True, reason: str | None = None, by: str | None = None
) -> ApprovalAnswer:
    """Answer the approval node `node` that run `run_id` is paused on, and resume the run.

    A rejection needs a reason (the `on_reject` branch reads it as `$NODE.output.reason`). Errors:
    UserError (no reason to reject), RunRecordNotFound (no such run), ApprovalRefused (not paused, paused
    on another node, timed out), PrefectUnavailable (no server)."""
    reason = reason.strip() if reason else None
    if not approved and not reason:
        raise UserError("a rejection needs a reason (--reason / `reason`): the on_reject branch reads it")
    if reason and len(reason) > REASON_MAX_CHARS:
        raise UserError(f"the reason is longer than {REASON_MAX_CHARS:,} characters")
    if by and len(by) > BY_MAX_CHARS:
        raise UserError(f"`by` is longer than {BY_MAX_CHARS} characters")
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.responses import SetStateStatus

    answer = ApprovalInput(approved=approved, reason=reason, by=by or None).model_dump(
        include={"approved", "reason", "by"}
    )
    _flow_run_id(run_id)  # a malformed id is not found, with or without a server
    with _client() as client:
        flow_run, pending = _waiting(client, run_id)
        if ended_here(get_settings().home_dir, str(flow_run.id)):  # the id as the lock names it, any spelling
            raise ApprovalRefused(
                f"run {run_id} is paused at {pending.node!r}, but the process running it has ended (killed?): "
                "nobody waits for this answer. Resume its workflow run (`lakehouse workflow resume`) to reach "
                "the gate again",
                run_id=run_id,
                node=pending.node,
            )
        if pending.node != node:
            raise ApprovalRefused(
                f"run {run_id} is waiting on node {pending.node!r}, not {node!r}", run_id=run_id, node=pending.node
            )
        deadline = time.monotonic() + _SCHEMA_WAIT_S
        while True:
            result = client.resume_flow_run(flow_run.id, run_input=answer)
            reason_text = getattr(result.details, "reason", None) or ""
            if result.status == SetStateStatus.ACCEPT:
                break
            if reason_text == _SCHEMA_NOT_SAVED and time.monotonic() < deadline:
                time.sleep(0.1)  # the run paused a moment ago: its form is being saved
                continue
            if result.state is not None and result.state.type == StateType.FAILED:
                raise ApprovalRefused(
                    f"the approval of {node} in run {run_id} timed out: the run can no longer be resumed",
                    run_id=run_id,
                    node=node,
                )
            raise ApprovalRefused(f"Prefect refused to resume run {run_id}: {reason_text or result.status}")
    return ApprovalAnswer(run_id=run_id, workflow=pending.workflow, node=node, **answer)
