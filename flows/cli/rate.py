"""`lakehouse rate`: say a match was good or wrong, or import a file of historical placements.

Runs mode `matrix.feedback` through `invoke_mode` (one audit row, like a workflow node or HTTP):
each rating becomes a playbook entry and an evidence record. Heavy imports happen inside the
command, so `--help` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from flows.cli.common import console, fail, field_from_flag, plain, print_json


def _run(payload: dict[str, Any]) -> dict[str, Any]:
    """A single rating goes through a running `lakehouse api` (its model is loaded: no wait); a
    file import always runs here, where the file is (the API reads only its own roots)."""
    from flows.cli import remote
    from lakehouse.core import Lakehouse
    from modes.context import ModeContext
    from modes.invoke import invoke_mode

    if "file" not in payload:
        routed = remote.call("matrix.feedback", payload)
        if routed is not None:
            return routed
    lakehouse = Lakehouse()
    try:
        # the playbook entry embeds the query: say why the next seconds are quiet
        with remote.loading_model_note("" if "file" in payload else remote.API_HINT):
            return invoke_mode("matrix.feedback", payload, ModeContext.standalone(lakehouse, trusted_paths=True))
    finally:
        lakehouse.close()


def rate(
    ctx: typer.Context,
    query: Optional[str] = typer.Argument(None, help="The query the hit answered (omit with --file)."),
    corpus: Optional[str] = typer.Option(None, "--corpus", help="The corpus the hit came from."),
    good: Optional[str] = typer.Option(None, "--good", metavar="ID", help="The hit with this id was a good match."),
    bad: Optional[str] = typer.Option(None, "--bad", metavar="ID", help="The hit with this id was wrong."),
    by: Optional[str] = typer.Option(None, "--by", help="Who rated (default: nobody named)."),
    note: Optional[str] = typer.Option(None, "--note", help="Why, at most 2,000 characters (default: none)."),
    rating_id: Optional[str] = typer.Option(
        None,
        "--rating-id",
        metavar="ID",
        help="Name this rating (default: a new id each time): sending it again stores nothing twice.",
    ),
    file: Optional[Path] = typer.Option(
        None,
        "--file",
        help="Import a .csv or .jsonl of ratings (columns query, corpus, id, verdict good/bad or 1/0, by, note, "
        "ts); any bad row imports nothing, a re-import stores nothing twice.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON (default: off, a summary)."),
) -> None:
    """Rate a match: QUERY --corpus C --good ID (or --bad ID); or --file placements.csv.

    Each rating becomes a playbook entry (later searches learn from it) and an evidence record
    (distillation and the nightly scorer drift read it)."""
    if file is not None:
        given = (("QUERY", query), ("--corpus", corpus), ("--good", good), ("--bad", bad))
        extra = [flag for flag, value in given if value is not None]
        if extra:
            fail(f"--file takes the ratings from the file: drop {', '.join(extra)}")
        if by is not None or note is not None or rating_id is not None:
            fail("--file takes by, note and rating_id from the file's columns: drop --by/--note/--rating-id")
        payload: dict[str, Any] = {"file": str(file.expanduser().resolve())}
    else:
        if query is None:
            fail("give the QUERY that was searched (or --file FILE to import ratings)")
        if corpus is None:
            fail("give --corpus, the corpus the rated hit came from")
        if (good is None) == (bad is None):
            fail(f"give exactly one of --good ID or --bad ID (got {'both' if good is not None else 'neither'})")
        payload = {"query": query, "corpus": corpus, "id": good if good is not None else bad}
        payload["verdict"] = "good" if good is not None else "bad"
        field_from_flag(ctx, "id", f"--{payload['verdict']}")
        payload |= {k: v for k, v in (("by", by), ("note", note), ("rating_id", rating_id)) if v is not None}
    out = _run(payload)
    if as_json:
        print_json(out)
        return
    _show(out, payload)


def _show(out: dict[str, Any], payload: dict[str, Any]) -> None:
    if "file" in payload:
        # a re-run after a killed import: its playbook entries were in, their evidence was not
        results = out["results"]
        finished = sum(r["status"] == "recorded" and "duplicate" in (r["playbook"], r["evidence"]) for r in results)
        half = f" ({finished} of those recorded were half-stored by an earlier import: finished now)"
        repeated = out.get("repeated", 0)
        within = (
            f", {repeated} repeated an earlier row of the file and count once (a placement made twice needs "
            "its ts in each row to count twice)"
            if repeated
            else ""
        )
        console.print(
            f"recorded {out['recorded']} rating(s) from {plain(payload['file'])}, "
            f"{out['duplicates'] - repeated} already there" + within + (half if finished else ""),
            highlight=False,
        )
    else:
        first = out["results"][0]
        state = "recorded" if first["status"] == "recorded" else "already recorded"
        console.print(
            f"{state} {payload['verdict']} rating {plain(first['id'])}: {plain(payload['query'])!r} -> "
            f"{plain(payload['corpus'])}/{plain(payload['id'])}",
            highlight=False,
        )
    if out["recorded"]:
        console.print(f"stored as playbooks and in {plain(out['evidence_path'])}", highlight=False, style="dim")


def register(app: typer.Typer) -> None:
    app.command("rate")(rate)
