"""`lakehouse workflow resume RUN_ID [--from NODE] [--allow-changed] [--json]`."""

from __future__ import annotations

from typing import Optional

import typer

from flows.cli.common import console, plain, print_json
from flows.cli.workflow import _print_result, workflow_app


@workflow_app.command("resume")
def resume(
    run_id: str = typer.Argument(..., help="The run to resume (its run id: `lakehouse ops list`, `workflow run`)."),
    from_node: Optional[str] = typer.Option(
        None, "--from", help="Re-run this node and everything downstream of it, even if it completed."
    ),
    allow_changed: bool = typer.Option(
        False, "--allow-changed", help="Resume even if the workflow changed: changed nodes and their downstream re-run."
    ),
    json_out: bool = typer.Option(
        False, "--json", help="Print one JSON object: `workflow run --json`'s plus parent_run_id, reused, rerun."
    ),
) -> None:
    """Resume a run as a new run: completed nodes keep their outputs; failed, skipped and never-started
    nodes (and everything downstream of them) run. Works after the runner was killed. Refused if the
    workflow changed since (unless --allow-changed). Exit 0 only if the resumed run completed."""
    from flows.cli.server import ensure_server

    ensure_server()  # before prefect is imported: it reads PREFECT_API_URL once, at import
    from flows.cli.interrupts import interruptible_run
    from flows.resume import resume_run
    from flows.runner import current_lakehouse

    # errors (unknown run, changed workflow, unknown --from node) go through the one CLI policy
    with interruptible_run(f"resuming {run_id}"):
        if json_out:
            outcome = resume_run(run_id, from_node=from_node, allow_changed=allow_changed, trusted_paths=True)
        else:
            with console.status(f"resuming run {plain(run_id)} through Prefect…"):
                outcome = resume_run(run_id, from_node=from_node, allow_changed=allow_changed, trusted_paths=True)
    if json_out:
        print_json(outcome.view())
    else:
        plan = outcome.plan
        console.print(f"resumed from run {plain(plan.parent_run_id)}")
        if plan.reuse:
            console.print(f"reused: {plain(', '.join(plan.reuse))}")
        for node_id, why in plan.rerun.items():
            console.print(f"re-ran {plain(node_id)}: {plain(why)}")
        _print_result(outcome.result, current_lakehouse().observer.path)
    raise typer.Exit(0 if outcome.result.status == "completed" else 1)


def register(app: typer.Typer) -> None:
    """The command is on `workflow_app`, which flows.cli.workflow registers."""
