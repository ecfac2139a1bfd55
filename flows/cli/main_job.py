"""`lakehouse main`: the main job end to end on the embedded defaults (what `make run` calls).

It runs the shipped main workflows in one process against the local Prefect server (started in the
background if none is in use, see `ensure_server`; else Prefect's temporary server starts once),
shows their key outputs, and saves each run's result under LH_HOME/runs/.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from flows.cli.common import console, err_console, fail, plain, print_json

if TYPE_CHECKING:
    from flows.loader import LoadedWorkflow

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
            table.add_row(*[plain(v) for v in row])
        console.print(table)
    elif isinstance(output.get("hits"), list):
        table = Table(title=f"{node_id}: {len(output['hits'])} hit(s)")
        for column in ("corpus", "id", "score", "text"):
            table.add_column(column, overflow="fold")
        for hit in output["hits"][:10]:
            table.add_row(
                plain(hit.get("corpus")),
                plain(hit.get("id")),
                f"{hit.get('score', 0):.3f}",
                plain(str(hit.get("text", ""))[:90]),
            )
        console.print(table)


def main_inputs(loaded: LoadedWorkflow, request: str | None) -> dict[str, Any]:
    """What `main` gives a workflow: the request, and a shipped workflow's project files by absolute
    path (`shipped_file_inputs`: from another working directory `main` failed at its first node)."""
    from flows.loader import shipped_file_inputs

    inputs: dict[str, Any] = {"request": request} if request and "request" in loaded.spec.inputs else {}
    return {**inputs, **shipped_file_inputs(loaded, inputs)}


@contextmanager
def _running(name: str) -> Iterator[None]:
    """A spinner while the workflow runs, and a bar per stage (rows embedded of total) as nodes report."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from modes.catalog.corpus import PROGRESS

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=err_console, transient=True) as bars:
        bars.add_task(f"running {name} through Prefect…", total=None)
        stages: dict[str, Any] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in stages:
                stages[stage] = bars.add_task(f"  {stage}", total=max(total, 1))
            bars.update(stages[stage], completed=done, total=max(total, 1))

        token = PROGRESS.set(report)
        try:
            yield
        finally:
            PROGRESS.reset(token)


def main_job(
    request: str = typer.Option(None, help="Staffing request for the search step (default: the workflow's)."),
    json_out: bool = typer.Option(
        False, "--json", help="Print one JSON object: each workflow's run id, status, nodes and result file."
    ),
) -> None:
    """Run the main job end to end and print where its results and run records are."""
    if request is not None and not request.strip():  # was read as "not given": the default request ran
        fail("--request is empty: give the staffing request to search for (leave it out for the workflow's own)")
    from flows.cli.server import ensure_server
    from flows.cli.workflow import _print_result
    from flows.loader import WorkflowError, find_workflows, load_workflow

    server = ensure_server()  # before prefect is imported: it reads PREFECT_API_URL once, at import
    from flows.runner import WorkflowCrashed, current_lakehouse, run_workflow

    known = find_workflows()
    names = [n for n in MAIN_WORKFLOWS if n in known] or [FALLBACK]
    lakehouse = current_lakehouse()
    runs_dir = lakehouse.settings.home_dir / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    failed = []
    runs = []
    for name in names:
        try:
            loaded = load_workflow(name)
            inputs = main_inputs(loaded, request)
            with nullcontext() if json_out else _running(name):
                result = run_workflow(loaded, inputs, trusted_paths=True)
        except (WorkflowError, WorkflowCrashed) as exc:
            fail(f"{name}: {exc}")
        saved = runs_dir / f"{name}-{result.run_id}.json"
        dumped = result.model_dump(mode="json")
        saved.write_text(json.dumps(dumped, indent=2, default=str))
        runs.append({**dumped, "result_file": str(saved)})
        if result.status != "completed":
            failed.append(name)
        if json_out:
            continue
        _print_result(result, lakehouse.observer.path)
        for node_id, node in result.nodes.items():
            if node.status == "completed":
                _show_output(node_id, node.output)
        console.print(f"result: {plain(saved)}\n")
    if json_out:
        print_json(
            {
                "status": "failed" if failed else "completed",
                "runs": runs,
                "results_dir": str(runs_dir),
                "ops_log": str(lakehouse.observer.path),
            }
        )
        raise typer.Exit(1 if failed else 0)
    console.print(f"[bold]done[/]: {len(names) - len(failed)}/{len(names)} workflow(s) completed")
    console.print(f"results: {plain(runs_dir)}")
    console.print(
        f"run records (ObservedOps): {plain(lakehouse.observer.path)}  — `lakehouse ops list`, `lakehouse ops stats`"
    )
    if server:
        console.print(f"Prefect UI: {server.removesuffix('/api')}")
    else:
        console.print("Prefect UI: `lakehouse server start`, then re-run to see the runs there")
    raise typer.Exit(1 if failed else 0)


def register(app: typer.Typer) -> None:
    app.command("main")(main_job)
