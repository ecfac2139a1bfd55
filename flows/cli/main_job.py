"""`lakehouse main`: the main job end to end on the embedded defaults (what `make run` calls).

It runs the shipped main workflows in one process (Prefect's temporary server starts once), shows
their key outputs, and saves each run's result under LH_HOME/runs/.
"""

from __future__ import annotations

import json

import typer
from rich.table import Table

from flows.cli.common import console, fail
from flows.loader import WorkflowError, find_workflows, load_workflow

# In order; the ones that exist are run. hello-lakehouse is the fallback smoke test.
MAIN_WORKFLOWS = ("staffing-data", "staffing-match")
FALLBACK = "hello-lakehouse"


def _show_output(node_id: str, output) -> None:
    if not isinstance(output, dict):
        return
    if "columns" in output and "rows" in output:
        table = Table(title=f"{node_id}: {len(output['rows'])} row(s)")
        for column in output["columns"]:
            table.add_column(str(column), overflow="fold")
        for row in output["rows"][:20]:
            table.add_row(*["" if v is None else str(v) for v in row])
        console.print(table)
    elif isinstance(output.get("hits"), list):
        table = Table(title=f"{node_id}: {len(output['hits'])} hit(s)")
        for column in ("corpus", "id", "score", "text"):
            table.add_column(column, overflow="fold")
        for hit in output["hits"][:10]:
            table.add_row(
                str(hit.get("corpus")), str(hit.get("id")), f"{hit.get('score', 0):.3f}", str(hit.get("text", ""))[:90]
            )
        console.print(table)


def main_job(
    request: str = typer.Option(None, help="Staffing request for the search step (default: the workflow's)."),
) -> None:
    """Run the main job end to end and print where its results and run records are."""
    from flows.cli.workflow import _print_result
    from flows.runner import WorkflowCrashed, current_lakehouse, run_workflow

    known = find_workflows()
    names = [n for n in MAIN_WORKFLOWS if n in known] or [FALLBACK]
    lakehouse = current_lakehouse()
    runs_dir = lakehouse.settings.home_dir / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in names:
        try:
            loaded = load_workflow(name)
            inputs = {"request": request} if request and "request" in loaded.spec.inputs else {}
            with console.status(f"running [bold]{name}[/] through Prefect…"):
                result = run_workflow(loaded, inputs, trusted_paths=True)
        except (WorkflowError, WorkflowCrashed) as exc:
            fail(f"{name}: {exc}")
        _print_result(result, lakehouse.observer.path)
        for node_id, node in result.nodes.items():
            if node.status == "completed":
                _show_output(node_id, node.output)
        saved = runs_dir / f"{name}-{result.run_id}.json"
        saved.write_text(json.dumps(result.model_dump(mode="json"), indent=2, default=str))
        console.print(f"result: {saved}\n")
        if result.status != "completed":
            failed.append(name)
    console.print(f"[bold]done[/]: {len(names) - len(failed)}/{len(names)} workflow(s) completed")
    console.print(f"results: {runs_dir}")
    console.print(
        f"run records (ObservedOps): {lakehouse.observer.path}  — `lakehouse ops list`, `lakehouse ops stats`"
    )
    console.print("Prefect UI: `lakehouse server start`, then re-run to see the runs there")
    raise typer.Exit(1 if failed else 0)


def register(app: typer.Typer) -> None:
    app.command("main")(main_job)
