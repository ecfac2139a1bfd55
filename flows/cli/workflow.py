"""`lakehouse workflow validate|plan|run|list`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.table import Table

from flows.cli.common import LakehouseGroup, console, parse_key_values, plain, print_json

if TYPE_CHECKING:
    from flows.loader import WorkflowError

workflow_app = typer.Typer(cls=LakehouseGroup, help="Check, plan, run and list YAML workflows.", no_args_is_help=True)


def _report(exc: WorkflowError) -> None:
    # Plain text, one per line: scripts and editors parse FILE:NODE: prefixes.
    sys.stderr.write("".join(f"{issue}\n" for issue in exc.issues))
    sys.stderr.flush()


@workflow_app.command("validate")
def validate(
    files: list[str] = typer.Argument(..., help="Workflow files (or shipped names) to check."),
    json_out: bool = typer.Option(False, "--json", help="Print {file: [errors]} as JSON."),
) -> None:
    """Check workflow files without running anything. Exit 0 if all are valid, 1 if not.

    Errors go to stderr, one per line, each starting with FILE:NODE_ID: (FILE:-: for workflow-level
    errors)."""
    from flows.loader import WorkflowError, load_workflow

    results: dict[str, list[str]] = {}
    for source in files:
        try:
            load_workflow(source)
            results[source] = []
        except WorkflowError as exc:
            results[source] = [str(i) for i in exc.issues]
            if not json_out:
                _report(exc)
    bad = [f for f, errors in results.items() if errors]
    if json_out:
        print_json({"valid": not bad, "errors": results})
    elif not bad:
        console.print(f"[green]valid[/]: {plain(', '.join(files))}")
    raise typer.Exit(1 if bad else 0)


@workflow_app.command("plan")
def plan(
    source: str = typer.Argument(..., help="Workflow file or shipped name."),
    json_out: bool = typer.Option(False, "--json", help="Print the layers as JSON."),
) -> None:
    """Show the topological layers (a dry run: nothing executes). Nodes in one layer may run together."""
    from flows.loader import WorkflowError, load_workflow

    try:
        loaded = load_workflow(source)
    except WorkflowError as exc:
        _report(exc)
        raise typer.Exit(1) from None
    layers = loaded.layers
    if json_out:
        nodes = {node_id: _plan_row(node) for node_id, node in loaded.nodes.items()}
        print_json({"workflow": loaded.name, "layers": layers, "nodes": nodes})
        return
    table = Table(title=f"plan: {loaded.name}")
    for column in ("layer", "node", "runs", "depends on", "when / how"):
        table.add_column(column, overflow="fold")
    for index, layer in enumerate(layers, start=1):
        for node_id in layer:
            row = _plan_row(loaded.nodes[node_id])
            table.add_row(str(index), node_id, row["runs"], ", ".join(row["depends_on"]), "; ".join(row["how"]))
    console.print(table)


def _plan_row(node) -> dict:
    """What a node runs and the rules around it, for `plan`."""
    runs = {
        "workflow": f"workflow {node.workflow}",
        "approval": "approval gate",
        "prompt": "llm.chat (prompt)",
    }.get(node.kind or "", node.mode_name or "")
    how = []
    if node.when:
        how.append(f"when {node.when}")
    if node.trigger_rule != "all_success":
        how.append(f"trigger {node.trigger_rule}")
    if node.for_each:
        how.append(f"for each {node.for_each} (max {node.max_parallel or 'default'} at once)")
    if node.loop:
        how.append(f"loop until {node.loop.until} (max {node.loop.max_iterations})")
    if node.approval and node.approval.on_reject:
        how.append(f"on reject: {', '.join(node.approval.on_reject)}")
    if node.output_schema:
        how.append("output_schema")
    return {"runs": runs, "kind": node.kind, "depends_on": list(node.depends_on), "how": how}


@workflow_app.command("run")
def run(
    source: str = typer.Argument(..., help="Workflow file or shipped/saved name (see `workflow list`)."),
    inputs: Optional[list[str]] = typer.Option(
        None, "--input", "-i", help="KEY=VALUE (VALUE may be JSON). Repeatable."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object: run_id, workflow, status, nodes."),
) -> None:
    """Run a workflow through Prefect. Exit 0 only if the run completed."""
    from flows.loader import WorkflowError, load_workflow, shipped_file_inputs

    given = parse_key_values(inputs)
    try:
        loaded = load_workflow(source, given)
        if files := shipped_file_inputs(loaded, given):  # from any working directory
            loaded = load_workflow(source, {**given, **files})
    except WorkflowError as exc:
        _report(exc)
        raise typer.Exit(1) from None
    from flows.cli.server import ensure_server

    ensure_server()  # before prefect is imported: it reads PREFECT_API_URL once, at import
    from flows.cli.interrupts import interruptible_run
    from flows.runner import current_lakehouse, run_workflow

    # a crash (WorkflowCrashed) is our own failure: the one CLI error policy prints it and exits 2
    with interruptible_run(loaded.name):
        if json_out:
            result = run_workflow(loaded, trusted_paths=True)
        else:
            with console.status(f"running [bold]{loaded.name}[/] ({len(loaded.nodes)} nodes) through Prefect…"):
                result = run_workflow(loaded, trusted_paths=True)
    if json_out:
        print_json(result.model_dump(mode="json"))
    else:
        _print_result(result, current_lakehouse().observer.path)
    raise typer.Exit(0 if result.status == "completed" else 1)


def _print_result(result, ops_log: Path) -> None:
    colours = {"completed": "green", "failed": "red", "skipped": "yellow"}
    table = Table(title=f"{result.workflow} — run {result.run_id}")
    for column in ("node", "status", "attempts", "output / error"):
        table.add_column(column, overflow="fold")
    for node_id, node in result.nodes.items():
        detail = plain(node.error if node.status != "completed" else _short(node.output))
        if node.items:
            counts = node.items
            detail = f"items {counts['completed']} ok, {counts['failed']} failed, {counts['skipped']} skipped; {detail}"
        if node.iterations:
            detail = f"{node.iterations} iteration(s); {detail}"
        if node.reused_from:
            detail = f"reused from run {node.reused_from}; {detail}"
        table.add_row(node_id, f"[{colours[node.status]}]{node.status}[/]", str(node.attempts), detail)
    console.print(table)
    console.print(f"status: [{colours.get(result.status, 'red')}]{result.status}[/]")
    console.print(f"run records: {ops_log}  (lakehouse ops list --run {result.run_id})")


def _short(value, limit: int = 160) -> str:
    import json

    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@workflow_app.command("list")
def list_workflows(json_out: bool = typer.Option(False, "--json", help="Print a JSON list.")) -> None:
    """List shipped workflows (workflows/) and the user's (LH_HOME/workflows)."""
    from flows.loader import find_workflows, read_description

    rows = []
    for name, path in find_workflows().items():
        text = read_description(path)
        description = " ".join(text.split()) if text is not None else "(unreadable: run `lakehouse workflow validate`)"
        rows.append({"name": name, "path": str(path), "description": description})
    if json_out:
        print_json(rows)
        return
    table = Table(title="workflows")
    for column in ("name", "description", "path"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["name"], row["description"][:100], row["path"])
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(workflow_app, name="workflow")
