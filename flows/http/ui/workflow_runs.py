"""Runs started from the console: how a page follows one while it runs.

A run starts as `/v1` starts it (`RunTracker.submit` in `app.state.runs`); the tracker learns the
Prefect flow-run id when the flow starts. A resume runs beside the tracker, so the console tags
each flow run (`lakehouse-ui:<id>`; the worker runs in a copy of the submitter's context, so the
tag applies) and finds a resume's on the Prefect server by that tag; from then on the run's
ObservedOps (recorded as each node attempt ends) give the node states while it runs, and the
Prefect UI link is known.
"""

from __future__ import annotations

import contextvars
import threading
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from flows.http.runs import TrackedRun, run_ops
from flows.http.ui import prefect_ui_url as prefect_ui
from lakehouse.errors import LakehouseError
from lakehouse.observe.observer import now_utc

TAG_PREFIX = "lakehouse-ui:"
FINISHED = ("completed", "failed", "crashed")
KEEP = 500


@dataclass
class UiRun:
    """A console run: its tracker entry, the tag that finds its flow run, and its node plan."""

    tracked: TrackedRun
    tag: str
    order: list[str]
    depends: dict[str, list[str]]
    kinds: dict[str, str]
    flow_run_id: str | None = None
    parent: str | None = None  # a resume: the flow run it resumes
    loaded: Any = None  # the checked workflow (its DAG is drawn with the node states)


_runs: OrderedDict[str, UiRun] = OrderedDict()
_lock = threading.Lock()
_resumes = ThreadPoolExecutor(max_workers=2, thread_name_prefix="lakehouse-ui-resume")


def plan_of(loaded: Any) -> tuple[list[str], dict[str, list[str]], dict[str, str]]:
    from flows.http.ui.dag_svg import kind_label

    order = loaded.order
    return (
        order,
        {n: list(loaded.graph.predecessors(n)) for n in order},
        {n: kind_label(loaded.nodes[n]) for n in order},
    )


def _remember(run: UiRun) -> UiRun:
    with _lock:
        _runs[run.tracked.run_id] = run
        while len(_runs) > KEEP:
            _runs.popitem(last=False)
    return run


def get(run_id: str) -> UiRun | None:
    with _lock:
        return _runs.get(run_id)


def start(tracker: Any, loaded: Any) -> UiRun:
    """Submit a checked workflow to the app's RunTracker, tagged so its flow run can be found."""
    from prefect import tags

    tag = TAG_PREFIX + uuid.uuid4().hex
    with tags(tag):
        tracked = tracker.submit(loaded)
    return _remember(UiRun(tracked, tag, *plan_of(loaded), loaded=loaded))


def resume(parent_flow_run_id: str, loaded: Any = None) -> UiRun:
    """Resume a failed run as a new run in the background (`flows.resume.resume_run`, as
    `POST /v1/observer/runs/{id}/resume` does, but not blocking the page)."""
    from prefect import tags

    tag = TAG_PREFIX + uuid.uuid4().hex
    tracked = TrackedRun(run_id=uuid.uuid4().hex, workflow="", submitted_at=now_utc())
    plan = plan_of(loaded) if loaded is not None else ([], {}, {})
    run = _remember(UiRun(tracked, tag, *plan, parent=parent_flow_run_id, loaded=loaded))

    def execute() -> None:
        from flows.resume import resume_run

        tracked.status, tracked.started_at = "running", now_utc()
        try:
            outcome = resume_run(parent_flow_run_id, trusted_paths=False)  # submitted over HTTP: untrusted
            tracked.result = outcome.view()
            tracked.workflow = tracked.result["workflow"]
            tracked.status = tracked.result["status"]
        except Exception as exc:  # shown on the run's page, like the tracker's crashed runs
            tracked.status = "crashed"
            tracked.error = str(exc) if isinstance(exc, LakehouseError) else f"{type(exc).__name__}: {exc}"
        finally:
            tracked.finished_at = now_utc()

    with tags(tag):
        _resumes.submit(contextvars.copy_context().run, execute)
    return run


def find_flow_run(run: UiRun) -> str | None:
    """The flow-run id: the tracker's (told when the flow starts), from the result once finished,
    else looked up by the run's tag (a resume's), among top-level flow runs: a sub-workflow's
    subflow inherits the tag, and was found first."""
    if run.flow_run_id:
        return run.flow_run_id
    result = run.tracked.result or {}
    if run.tracked.flow_run_id or result.get("run_id"):
        run.flow_run_id = run.tracked.flow_run_id or result["run_id"]
        return run.flow_run_id
    from flows.approval import prefect_api_url

    if prefect_api_url() is None:  # Prefect's in-process server: the run is found when it ends
        return None
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentTaskRunId, FlowRunFilterTags

    top_level = FlowRunFilter(
        tags=FlowRunFilterTags(all_=[run.tag]), parent_task_run_id=FlowRunFilterParentTaskRunId(is_null_=True)
    )
    try:
        with get_client(sync_client=True) as client:
            found = client.read_flow_runs(flow_run_filter=top_level, limit=1)
    except Exception:  # noqa: BLE001 - the server is down: the page keeps polling and says nothing new
        return None
    if found:
        run.flow_run_id = str(found[0].id)
    return run.flow_run_id


def pending_approval(flow_run_id: str | None) -> Any:
    """The approval the run is paused on, or None (also when no Prefect server can say)."""
    if not flow_run_id:
        return None
    from flows.approval import pending_approvals

    try:
        return next((p for p in pending_approvals() if p.run_id == flow_run_id), None)
    except LakehouseError:
        return None


def node_rows(
    order: list[str], depends: dict[str, list[str]], kinds: dict[str, str], ops: list[dict[str, Any]], status: str
) -> list[dict[str, Any]]:
    """One row per node: its state from its newest op; a node without one is `running` while the run
    runs and everything it depends on is done, else `pending` (or `not run` once the run ended)."""
    order, depends = list(order), dict(depends)
    last: dict[str, dict[str, Any]] = {}
    attempts: dict[str, int] = {}
    for each in ops:
        node = each.get("node_id")
        if node:
            last[node] = each
            attempts[node] = attempts.get(node, 0) + 1
    for node in last:
        if node not in depends:  # a run not started here: its nodes as the ops name them
            order.append(node)
            depends[node] = []
    rows = []
    for node in order:
        op: dict[str, Any] = last.get(node) or {}
        if op:
            state = op.get("status") or "?"
        elif status in FINISHED:
            state = "not run"
        elif all(last.get(d, {}).get("status") in ("completed", "skipped") for d in depends.get(node, [])):
            state = "running" if status == "running" else "pending"
        else:
            state = "pending"
        rows.append(
            {
                "node": node,
                "kind": kinds.get(node) or op.get("mode") or "",
                "state": state,
                "attempts": attempts.get(node, 0),
                "duration_ms": op.get("duration_ms"),
                "error": op.get("error"),
            }
        )
    return rows


def ops_of(flow_run_id: str | None) -> list[dict[str, Any]]:
    return run_ops(flow_run_id) if flow_run_id else []


def prefect_ui_url(flow_run_id: str | None) -> str | None:
    """`<ui>/runs/flow-run/<id>`, on the Prefect UI the console's top bar links to."""
    ui = prefect_ui()
    return f"{ui}/runs/flow-run/{flow_run_id}" if ui and flow_run_id else None
