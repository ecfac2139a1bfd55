"""Console page /ui/workflows: list, validate, plan (the DAG drawn), run with inputs, follow a run.

Everything goes through what `/v1/observer` uses: `find_workflows` / `load_request` to check,
`RunTracker.submit` (app.state.runs) to run, `flows.resume.resume_run` to resume and
`flows.approval.approve` to answer an approval node. A run's page polls one fragment every second
while the run is unfinished; the fragment carries a digest of what it shows and the server answers
204 (no swap) while nothing changed, so a half-typed rejection reason survives the polling.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from flows.http.calls import lakehouse_of
from flows.http.runs import WorkflowRequest, load_request
from flows.http.ui import render, templates, workflow_runs
from flows.http.ui.dag_svg import dag_svg, kind_label
from flows.http.ui.session import CSRF_FIELD, verify_csrf
from flows.outputs import RunStore
from lakehouse.common.text import loads_json
from lakehouse.errors import LakehouseError

router = APIRouter()
PLACEHOLDER = {"string": "", "integer": 0, "number": 0, "boolean": False, "object": {}, "array": []}


def _issues(exc: Exception) -> list[dict[str, Any]]:
    """The loader's issues (file, node, field, message with its suggestion), or the error alone."""
    found = getattr(exc, "issues", None) or (getattr(exc, "details", None) or {}).get("issues")
    if found:
        return [i if isinstance(i, dict) else {"node": i.node, "field": i.field, "message": i.message} for i in found]
    return [{"node": None, "field": None, "message": str(exc)}]


def _check(name: str) -> tuple[Any, list[dict[str, Any]], Path | None]:
    """(loaded or None, issues, file) for a workflow by name; required inputs get placeholders, so
    the file itself is checked and planned without values for them."""
    from flows.loader import find_workflows, load_workflow, read_workflow_file

    path = find_workflows().get(name)
    try:
        loaded = load_request(WorkflowRequest(workflow=name))
        return loaded, [], path
    except LakehouseError as exc:
        issues = _issues(exc)
    if path is None or not all((i.get("field") or "").startswith("inputs.") and not i.get("node") for i in issues):
        return None, issues, path
    import yaml

    try:  # only required inputs were missing: check again with a placeholder for each
        declared = (yaml.safe_load(read_workflow_file(path)) or {}).get("inputs") or {}
        filler = {
            k: PLACEHOLDER.get((v or {}).get("type", "string"), "")
            for k, v in declared.items()
            if isinstance(v, dict) and v.get("required")
        }
        return load_workflow(path, filler), [], path
    except (LakehouseError, yaml.YAMLError, AttributeError):
        return None, issues, path


def _where(path: Path | None) -> str:
    from flows.loader import SHIPPED_WORKFLOWS

    if path is None:
        return ""
    return "shipped (workflows/)" if path.parent == SHIPPED_WORKFLOWS else f"yours ({path.parent})"


@router.get("/ui/workflows")
def page(request: Request) -> HTMLResponse:
    from flows.loader import find_workflows, read_description

    rows = []
    for name, path in sorted(find_workflows().items()):
        loaded, issues, _ = _check(name)
        rows.append(
            {
                "name": name,
                "description": read_description(path),
                "nodes": len(loaded.nodes) if loaded is not None else None,
                "issues": len(issues),
                "where": _where(path),
            }
        )
    return render(request, "workflows.html", active="workflows", title="Workflows", workflows=rows)


def _input_fields(loaded: Any) -> list[dict[str, Any]]:
    """The run form: one widget per declared input, its default prefilled."""
    fields = []
    for name, spec in loaded.spec.inputs.items():
        default = spec.default
        if spec.type in ("object", "array", "any") and default is not None:
            shown = json.dumps(default, indent=2)
        else:
            shown = "" if default is None else str(default)
        fields.append({"name": name, "spec": spec, "value": shown})
    return fields


@router.get("/ui/workflows/{name}")
def view(request: Request, name: str) -> HTMLResponse:
    loaded, issues, path = _check(name)
    if path is None:
        return render(
            request,
            "workflows_missing.html",
            active="workflows",
            title="Workflows",
            name=name,
            issues=issues,
            status_code=404,
        )
    return render(
        request,
        "workflows_view.html",
        active="workflows",
        title=name,
        name=name,
        path=str(path),
        where=_where(path),
        loaded=loaded,
        issues=issues,
        svg=dag_svg(loaded) if loaded is not None else None,
        nodes=[{"id": n, "kind": kind_label(loaded.nodes[n])} for n in loaded.order] if loaded else [],
        fields=_input_fields(loaded) if loaded is not None else [],
    )


@router.get("/ui/workflows/{name}/validate")
def validate(request: Request, name: str) -> HTMLResponse:
    loaded, issues, _ = _check(name)
    return render(request, "workflows_issues.html", name=name, loaded=loaded, issues=issues, checked=True)


def _form_inputs(form: Any, declared: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Form text to input values: JSON for non-string types (the loader says what does not fit);
    and the issues of object and list fields whose text is not JSON at all."""
    values: dict[str, Any] = {}
    issues: list[dict[str, Any]] = []
    for name, spec in declared.items():
        if spec.type == "boolean":  # a checkbox: "true" or absent; anything else is the loader's to refuse
            raw_flag = form.get(name)
            values[name] = raw_flag == "true" if raw_flag in (None, "true") else raw_flag
            continue
        raw = str(form.get(name, ""))
        if raw.strip() == "":
            if spec.required:
                continue  # the loader names the missing input
            values[name] = spec.default
        elif spec.type == "string":
            values[name] = raw
        else:
            try:
                values[name] = loads_json(raw)
            except json.JSONDecodeError as exc:
                if spec.type in ("object", "array"):  # "expected object, got '{...'" hid the parse error
                    where = "" if "nested too deeply" in exc.msg else f" at character {exc.pos + 1}"
                    issues.append(
                        {"node": None, "field": f"inputs.{name}", "message": f"not valid JSON: {exc.msg}{where}"}
                    )
                values[name] = raw
    for key in form:
        if key not in declared and key != CSRF_FIELD:
            values[key] = form.get(key)  # refused by the loader as an unknown input, with a suggestion
    return values, issues


@router.post("/ui/workflows/{name}/run", dependencies=[Depends(verify_csrf)])
async def run(request: Request, name: str) -> Response:
    form = await request.form()
    loaded, issues, _ = _check(name)
    if loaded is None:
        return render(request, "workflows_issues.html", name=name, loaded=None, issues=issues, checked=False)
    values, unparsed = _form_inputs(form, loaded.spec.inputs)
    if unparsed:
        return render(request, "workflows_issues.html", name=name, loaded=None, issues=unparsed, checked=False)
    try:
        checked = load_request(WorkflowRequest(workflow=name, inputs=values))
    except LakehouseError as exc:
        return render(request, "workflows_issues.html", name=name, loaded=None, issues=_issues(exc), checked=False)
    started = workflow_runs.start(request.app.state.runs, checked)
    target = f"/ui/workflows/runs/{started.tracked.run_id}"
    if request.headers.get("hx-request"):
        return Response(headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _status_of_ops_only(request: Request, run_id: str, ops: list[dict[str, Any]]) -> tuple[str, Any]:
    """(status, pending approval) of a run this process did not start (the CLI's, a worker's, or the
    console's before a restart): its ops alone read "completed" while it still ran. Its process
    holds the run's lock while it runs and leaves the lock file when killed (flows/run_lock.py)."""
    from flows.run_lock import ended_here, is_running

    home = lakehouse_of(request).settings.home_dir
    if ended_here(home, run_id):
        return "crashed", None
    pending = workflow_runs.pending_approval(run_id)
    if pending is not None or is_running(home, run_id):
        return "running", pending
    return ("failed" if any(op.get("status") == "failed" for op in ops) else "completed"), None


def _recorded_workflow(request: Request, run_id: str) -> Any:
    """The workflow a run ran, from the text its record keeps (every node, not only those with
    ops; the file may have changed since), or None."""
    from flows.loader import load_workflow_text

    try:
        manifest = RunStore(lakehouse_of(request).store).read_manifest(run_id)
        return load_workflow_text(manifest.text, manifest.source, manifest.inputs)
    except (LakehouseError, ValueError):
        return None


def _run_context(request: Request, run_id: str) -> dict[str, Any] | None:
    """Everything a run's page shows, for a console run or any run with recorded ops."""
    ui = workflow_runs.get(run_id)
    if ui is not None:
        tracked = ui.tracked
        flow_run_id = workflow_runs.find_flow_run(ui)
        ops = workflow_runs.ops_of(flow_run_id)
        status: str = tracked.status
        pending = workflow_runs.pending_approval(flow_run_id) if status == "running" else None
        rows = workflow_runs.node_rows(ui.order, ui.depends, ui.kinds, ops, status)
        result = tracked.result or {}
        error = request.app.state.redact(tracked.error) if tracked.error else None
        workflow, parent = tracked.workflow or result.get("workflow"), ui.parent
        loaded = ui.loaded
    else:
        ops = workflow_runs.ops_of(run_id)
        if not ops:
            return None
        flow_run_id, result, error = run_id, {}, None
        status, pending = _status_of_ops_only(request, run_id, ops)
        loaded = _recorded_workflow(request, run_id)
        plan = workflow_runs.plan_of(loaded) if loaded is not None else ([], {}, {})
        rows = workflow_runs.node_rows(*plan, ops, status)
        workflow, parent = ops[0].get("workflow"), ops[0].get("parent_run_id")
    if pending is not None:
        for row in rows:
            if row["node"] == pending.node:
                row["state"] = "waiting"
    outputs = {n: r.get("output") for n, r in (result.get("nodes") or {}).items() if r.get("status") == "completed"}
    # a run is resumed once (flows/resume.py): its page points at the resume instead of offering another
    ended_badly = status in ("failed", "crashed") and bool(flow_run_id)
    resumed_by = RunStore(lakehouse_of(request).store).resumed_by(flow_run_id) if ended_badly and flow_run_id else None
    return {
        "run_id": run_id,
        "workflow": workflow,
        "parent": parent,
        "status": "paused" if pending is not None else status,
        "finished": status in workflow_runs.FINISHED,
        "flow_run_id": flow_run_id,
        "prefect_url": workflow_runs.prefect_ui_url(flow_run_id),
        "rows": rows,
        "pending": pending,
        "error": error,
        "outputs": {n: json.dumps(o, indent=2, default=str)[:4000] for n, o in outputs.items()},
        "can_resume": ended_badly and resumed_by is None,
        "resumed_by": resumed_by,
        "svg": dag_svg(loaded, {r["node"]: r["state"].replace(" ", "-") for r in rows}) if loaded else None,
    }


def _digest(ctx: dict[str, Any]) -> str:
    """Names what the live fragment shows: the poll answers 204 (no swap) while it stays the same."""
    html = templates.get_template("workflows_run_live.html").render(
        {**ctx, "digest": "", "message": None, "csrf_token": ""}
    )
    return hashlib.sha256(html.encode()).hexdigest()[:16]


def _live(request: Request, ctx: dict[str, Any], message: str | None = None, status_code: int = 200) -> HTMLResponse:
    return render(
        request, "workflows_run_live.html", digest=_digest(ctx), message=message, status_code=status_code, **ctx
    )


@router.get("/ui/workflows/runs/{run_id}")
def run_page(request: Request, run_id: str) -> HTMLResponse:
    ctx = _run_context(request, run_id)
    if ctx is None:
        return render(
            request,
            "workflows_missing.html",
            active="workflows",
            title="Run",
            name=None,
            issues=[{"node": None, "field": None, "message": f"no run {run_id!r}: not started here, no ops recorded"}],
            status_code=404,
        )
    return render(
        request, "workflows_run.html", active="workflows", title="Run", digest=_digest(ctx), message=None, **ctx
    )


@router.get("/ui/workflows/runs/{run_id}/live")
def run_live(request: Request, run_id: str, v: str = "") -> Response:
    ctx = _run_context(request, run_id)
    if ctx is None:
        return render(request, "workflows_issues.html", issues=[{"message": f"no run {run_id!r}"}], checked=False)
    digest = _digest(ctx)
    if v == digest:
        return Response(status_code=204)  # unchanged: htmx keeps what the page shows
    return render(request, "workflows_run_live.html", digest=digest, message=None, **ctx)


@router.post("/ui/workflows/runs/{run_id}/approve", dependencies=[Depends(verify_csrf)])
async def approve(request: Request, run_id: str) -> Response:
    from flows.approval import approve as answer

    form = await request.form()
    ctx = _run_context(request, run_id)
    if ctx is None or not ctx["flow_run_id"]:
        return render(request, "workflows_issues.html", issues=[{"message": f"no flow run for {run_id!r}"}])
    decision = str(form.get("decision", ""))
    if decision not in ("approve", "reject"):  # a missing or unknown one approved or rejected by default
        return _live(
            request, ctx, message=f"decision: expected 'approve' or 'reject', got {decision!r}", status_code=422
        )
    try:
        answer(
            ctx["flow_run_id"],
            str(form.get("node", "")),
            approved=decision == "approve",
            reason=str(form.get("reason") or "") or None,
            by=str(form.get("by") or "") or None,
        )
    except LakehouseError as exc:
        return _live(request, ctx, message=str(exc))
    return _live(request, _run_context(request, run_id) or ctx, message=f"{decision}d: the run goes on")


@router.post("/ui/workflows/runs/{run_id}/resume", dependencies=[Depends(verify_csrf)])
def resume(request: Request, run_id: str) -> Response:
    ctx = _run_context(request, run_id)
    if ctx is None or not ctx["can_resume"]:
        return render(request, "workflows_issues.html", issues=[{"message": f"run {run_id!r} cannot be resumed"}])
    ui = workflow_runs.get(run_id)
    started = workflow_runs.resume(ctx["flow_run_id"], ui.loaded if ui is not None else None)
    target = f"/ui/workflows/runs/{started.tracked.run_id}"
    if request.headers.get("hx-request"):
        return Response(headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)
