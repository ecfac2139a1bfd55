"""`lakehouse flush`: push this LH_HOME's ops, playbooks, pathway events and evidence to their
shared lakehouse tables (`_lh_*`), so other processes and machines on the same catalog see them."""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from flows.cli.common import EXIT_FLUSH_DONE, console, print_json


def flush(
    log: Optional[list[str]] = typer.Option(
        None, "--log", metavar="NAME", help="Only this shared log (ops, playbooks, pathway, evidence); repeatable."
    ),
    force: bool = typer.Option(False, "--force", help="Flush even when shared state is off (LH_SHARED_STATE)."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON list of per-log reports."),
) -> None:
    """Flush the local logs (the write-ahead logs) to the shared tables; idempotent, safe to repeat.

    Per log: rows read since the last flush, rows added to the table, and rows the table already
    had (a flush cut short after its commit)."""
    from lakehouse.config import get_settings
    from lakehouse.data.errors import SharedLogError
    from lakehouse.data.shared_log import KINDS, flush_all

    names = list(dict.fromkeys(log or []))  # `--log ops --log ops` flushed and reported ops twice
    unknown = [name for name in names if name not in KINDS]
    EXIT_FLUSH_DONE.set(True)  # what this command flushes (or fails to) needs no second try at exit
    if unknown:
        raise SharedLogError(_unknown_logs(unknown, list(KINDS)))
    reports = flush_all(get_settings(), force=force, names=names or None)
    if json_out:
        print_json([r.as_dict() for r in reports])
        return
    if all(r.skipped for r in reports):
        console.print(f"nothing flushed: {reports[0].skipped}; `--force` flushes anyway", highlight=False)
        return
    table = Table("log", "table", "read", "added", "had", "seconds")
    table.columns[1].no_wrap = True
    for r in reports:
        table.add_row(r.name, r.table, str(r.read), str(r.appended), str(r.already), f"{r.seconds:.3f}")
    console.print(table)


def _unknown_logs(unknown: list[str], known: list[str]) -> str:
    """The unknown names in words, each with the known ones it is close to (a Python list,
    `['bogus']`, was printed as it was)."""
    from lakehouse.common.suggest import close_matches

    named = []
    for name in unknown:
        near = close_matches(name, known)
        named.append(f"{name!r} (did you mean {' or '.join(map(repr, near))}?)" if near else repr(name))
    noun = "log" if len(unknown) == 1 else "logs"
    return f"unknown shared {noun} {' and '.join(named)}; the shared logs are {', '.join(known)}"


def register(app: typer.Typer) -> None:
    app.command("flush")(flush)
