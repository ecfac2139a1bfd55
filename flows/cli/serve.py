"""`lakehouse serve`: every deployment of `prefect.yaml` (`flows/jobs.py` DEPLOYMENTS), served from one process.

`flow.to_deployment(...)` + `prefect.serve(...)`: no work pool or worker needed; scheduled and
triggered runs execute here until the process stops (Ctrl-C pauses the schedules). They need a
Prefect server whose scheduler makes the scheduled runs: the home's (`lakehouse server start`,
started here when none runs, as for `workflow run`) or `PREFECT_API_URL`'s; the runs show in its UI.
"""

from __future__ import annotations

from typing import Any, Optional

import typer
from rich.table import Table

from flows.cli.common import console, err_console, fail, print_json
from flows.cli.flags import renamed


def build_deployments() -> list:
    """One RunnerDeployment per entry of `flows.jobs.DEPLOYMENTS` (module entrypoints, so the
    runs load the installed package whatever the working directory)."""
    from prefect.deployments.runner import EntrypointType

    from flows.jobs import DEPLOYMENTS

    return [
        spec.load_flow().to_deployment(
            name=spec.name,
            cron=spec.cron,
            parameters=spec.parameters,
            description=spec.description,
            tags=list(spec.tags),
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        for spec in DEPLOYMENTS
    ]


def serve(
    list_only: bool = typer.Option(False, "--list", help="Show the deployments that would be served, then exit."),
    limit: Optional[int] = typer.Option(None, "--concurrency", min=1, help="At most this many flow runs at once."),
    limit_old: Optional[int] = typer.Option(None, "--limit", min=1, hidden=True, help="Deprecated: --concurrency."),
    as_json: bool = typer.Option(False, "--json", help="With --list: print the deployments as JSON."),
) -> None:
    """Serve the scheduled deployments and run-workflow in this process, on the home's Prefect server
    (started when none runs) or PREFECT_API_URL's; Ctrl-C stops; --list names them."""
    limit = renamed(limit, limit_old, "--limit", "--concurrency")
    if as_json and not list_only:  # a script asking for the list got a server that never returned
        raise typer.BadParameter("--json needs --list: serving prints no JSON", param_hint="'--json'")
    if list_only:
        _print_deployments(as_json)
        return
    _point_at_a_server()
    from prefect import serve as prefect_serve

    try:
        deployments = build_deployments()
    except Exception as exc:  # a flow that cannot be loaded is a setup problem, not a traceback
        fail(f"could not build the deployments: {type(exc).__name__}: {exc}")
    prefect_serve(*deployments, limit=limit)


def _print_deployments(as_json: bool) -> None:
    from flows.jobs import DEPLOYMENTS

    rows: list[dict[str, Any]] = [
        {"name": s.name, "entrypoint": s.entrypoint, "cron": s.cron, "parameters": s.parameters} for s in DEPLOYMENTS
    ]
    if as_json:
        print_json(rows)
        return
    table = Table(title="deployments", title_justify="left")
    for column in ("name", "entrypoint", "cron", "parameters"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["name"], row["entrypoint"], row["cron"] or "-", str(row["parameters"] or "-"))
    console.print(table)


def _point_at_a_server() -> None:
    """The home's Prefect server (started when none runs) or PREFECT_API_URL's; before anything
    imports prefect, which reads PREFECT_API_URL once. Prefect's temporary server runs no
    scheduler, and no other process can reach it to trigger a run: serving there does nothing."""
    from flows.cli.server import ensure_server, outdated_server_warning
    from flows.prefect_env import running_server_url
    from lakehouse.config import get_settings

    if (url := ensure_server()) is not None:
        home = get_settings().home_dir
        if url == running_server_url(home) and (outdated := outdated_server_warning(home)):
            err_console.print(outdated, markup=False, highlight=False, soft_wrap=True)
        return

    why = (
        "the local server could not start (see the warning above)"
        if get_settings().prefect_autostart
        else "none runs for this home and starting one is off (LH_PREFECT_AUTOSTART=false)"
    )
    fail(
        f"`lakehouse serve` needs a Prefect server, and {why}: Prefect's temporary server makes no "
        "scheduled runs, and no other process can trigger one on it. Start one with "
        "`lakehouse server start`, or set PREFECT_API_URL"
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
