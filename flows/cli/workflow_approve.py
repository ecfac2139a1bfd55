"""`lakehouse workflow approve|approvals`: answer and list approval nodes that paused their run.

A run's approval node pauses its Prefect flow run (flows/approval.py); these commands read the run from
the Prefect API (PREFECT_API_URL, or the server `lakehouse server start` runs) and resume it.
"""

from __future__ import annotations

from typing import Optional

import typer

from flows.cli.common import console, plain, print_json
from flows.cli.workflow import workflow_app


def _default_by() -> str | None:
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (a container without a passwd entry)
        return None


@workflow_app.command("approve")
def approve(
    run_id: str = typer.Argument(..., help="The run's id (the Prefect flow-run id `workflow run` prints)."),
    node: str = typer.Argument(..., help="The approval node the run is waiting on."),
    reject: bool = typer.Option(False, "--reject", help="Reject instead of approve (needs --reason)."),
    reason: Optional[str] = typer.Option(
        None, "--reason", help="Why; required with --reject (an on_reject node reads it as $NODE.output.reason)."
    ),
    by: Optional[str] = typer.Option(None, "--by", help="Who answers (default: your login name)."),
    json_out: bool = typer.Option(False, "--json", help="Print {run_id, workflow, node, approved, reason, by}."),
) -> None:
    """Approve (or --reject) the approval node a paused run is waiting on, and resume the run.

    Exit 1 when the run is unknown, is not paused, waits on another node, or timed out (or --reject
    has no --reason); exit 2 when no Prefect server is reachable."""
    from flows.approval import approve as answer_approval

    answer = answer_approval(run_id, node, approved=not reject, reason=reason, by=by or _default_by())
    if json_out:
        print_json(answer.model_dump(mode="json"))
        return
    verdict = "[green]approved[/]" if answer.approved else "[red]rejected[/]"
    who = f" by {plain(answer.by)}" if answer.by else ""
    why = f": {plain(answer.reason)}" if answer.reason else ""
    console.print(f"{verdict} {plain(node)} in run {plain(run_id)} ({plain(answer.workflow)}){who}{why}")


@workflow_app.command("approvals")
def approvals(
    json_out: bool = typer.Option(False, "--json", help="Print a JSON list."),
    top: int = typer.Option(200, "--top", min=1, max=200, help="At most this many runs (the newest)."),
) -> None:
    """List the runs paused on an approval node (newest first): run id, workflow, node, message, since.

    Exit 2 when no Prefect server is reachable."""
    from flows.approval import pending_approvals

    pending = pending_approvals(limit=top)
    if json_out:
        print_json([p.model_dump(mode="json") for p in pending])
        return
    if not pending:
        console.print("no run is waiting for an approval")
        return
    # one block per run rather than a table: the run id is copied whole into `workflow approve`
    for p in pending:
        expires = f", times out {_utc(p.expires)}" if p.expires else ""
        console.print(
            f"[bold]{plain(p.run_id)}[/]  {plain(p.workflow)} / [bold]{plain(p.node)}[/]  "
            f"(paused {_utc(p.since)} UTC{expires})",
            soft_wrap=True,
        )
        console.print(f"  {plain(p.message)}", soft_wrap=True)
    console.print("answer with: lakehouse workflow approve RUN NODE [--reject --reason R]")


def _utc(moment) -> str:
    from datetime import UTC

    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def register(app: typer.Typer) -> None:
    """The commands hang on `workflow_app` (registered by flows.cli.workflow); nothing to add here."""
