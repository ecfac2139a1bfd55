"""`lakehouse search …` and `lakehouse playbook …`: matrix search and recorded matches (corpora: `corpus.py`)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from flows.cli.common import LakehouseGroup, console, err_console, fail, plain, print_json
from flows.cli.flags import renamed
from lakehouse.common.errors import InputFileError
from lakehouse.common.recordfile import read_json_lines
from lakehouse.search.filters import parse_pairs

playbook_app = typer.Typer(
    cls=LakehouseGroup, help="Record judged answers that lift later, similar searches.", no_args_is_help=True
)

JSON_HELP = "Print JSON instead of a table."


def _lakehouse():
    from lakehouse.core import Lakehouse

    return Lakehouse()


def run_local(name: str, payload: dict[str, Any], lh: Any = None) -> dict[str, Any]:
    """Run a mode as the CLI through `invoke_mode` (one ObservedOp; errors: the one CLI policy)."""
    from modes.context import ModeContext
    from modes.invoke import invoke_mode

    return invoke_mode(name, payload, ModeContext.standalone(lh or _lakehouse(), trusted_paths=True))


@contextmanager
def batch_progress(description: str) -> Iterator[Any]:
    """A progress callback `(stage, done, total)`; the bar appears on stderr only for large batches."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = None

        def update(stage: str, done: int, total: int) -> None:
            nonlocal task
            if total < 64:
                return
            if task is None:
                task = bar.add_task(description, total=total)
            bar.update(task, completed=done)

        yield update


def split_names(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _read_queries(path: Path) -> list[str]:
    queries = []
    for number, item in read_json_lines(path):
        if not isinstance(item, dict) or not isinstance(item.get("query"), str) or not item["query"].strip():
            fail(f'{path} line {number}: expected an object with a non-empty string "query"')
        queries.append(item["query"])
    if not queries:
        fail(f'{path}: no queries (one {{"query": "..."}} object per line)')
    return queries


def _public(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("corpus", "id", "text", "score", "distance", "metadata", "boosted_by", "why")
    return {
        "query": result["query"],
        "hits": [
            {k: hit[k] for k in keys if k in hit and (k != "why" or hit[k] is not None)} for hit in result["hits"]
        ],
        "count": result["count"],
        "metadata_filter_dropped": result["metadata_filter_dropped"],
        "relevance_dropped": result["relevance_dropped"],
        "downgrade": result["downgrade"],
        "generations": result.get("generations", {}),
    }


def _why(why: dict[str, Any]) -> str:
    """`cos 0.612 + vote 0.120 + memory 0.000` and the nearest recorded queries that voted."""
    line = f"cos {why['cosine']:.3f} + vote {why['vote']:.3f} + memory {why['memory']:.3f}"
    if why.get("adapter"):
        line += f" (adapter of generation {why['adapter']['generation']})"
    moved = why.get("rerank")
    if moved and moved["from_rank"] != moved["to_rank"]:
        line += f"; reranked from {moved['from_rank']} to {moved['to_rank']}"
    voters = [f"{n['query']!r} {n['similarity']:.2f}" for n in why.get("neighbours", [])[:3]]
    return line + ("; voted by " + ", ".join(voters) if voters else "")


def _print_hits(result: dict[str, Any]) -> None:
    table = Table(title=f"{result['count']} hits for {result['query']!r}")
    explain = any(hit.get("why") for hit in result["hits"])
    for column in ("#", "score", "corpus", "id", "text", "why" if explain else "voted by"):
        table.add_column(column, overflow="fold")
    for rank, hit in enumerate(result["hits"], start=1):
        text = hit["text"].split("\n")[0][:80]
        last = _why(hit["why"]) if explain else f"{len(hit['boosted_by'])} playbook(s)" if hit["boosted_by"] else ""
        table.add_row(str(rank), f"{hit['score']:.3f}", hit["corpus"], plain(hit["id"]), plain(text), plain(last))
    console.print(table)
    notes = [
        f"metadata filter dropped {result['metadata_filter_dropped']}",
        f"relevance filter dropped {result['relevance_dropped']}",
        result["downgrade"]["reason"],
    ]
    err_console.print("; ".join(notes), highlight=False)


def search(
    text: Optional[str] = typer.Argument(None, help="What to search for (omit with --batch)."),
    corpus: str = typer.Option(..., "--corpus", help="Corpus name(s), comma separated."),
    top: Optional[int] = typer.Option(
        None, "--top", min=1, help="How many hits you get when that many pass the filters (default 8)."
    ),
    top_k: Optional[int] = typer.Option(
        None,
        "--per-corpus",
        min=1,
        help="Candidates each corpus contributes before the merge (default 6, at least --top; more while the "
        "filters leave too few).",
    ),
    top_k_old: Optional[int] = typer.Option(None, "--top-k", min=1, hidden=True, help="Deprecated: --per-corpus."),
    filters: Optional[list[str]] = typer.Option(
        None,
        "--filter",
        help="Metadata KEY=VALUE; repeat a key for OR, keys are ANDed (default: no filter, every hit counts).",
    ),
    where: Optional[str] = typer.Option(
        None, "--where", help="SQL condition on the source table (pre-filter; default: none, every row)."
    ),
    playbook: bool = typer.Option(
        True,
        "--playbook/--no-playbook",
        help="Let matches recorded for similar queries vote (up to 20 nearest; default: on).",
        show_default=False,
    ),
    relevance: Optional[bool] = typer.Option(
        None,
        "--relevance/--no-relevance",
        help="Drop hits whose similarity is below 0.25 or more than 0.25 below the best hit's (default: on).",
    ),
    model: Optional[str] = typer.Option(
        None,
        "--model",
        help="Model that will read the hits; one not listed as weak gets only the first corpus (downgrade gate; "
        "default: none, all corpora).",
    ),
    force_mode: bool = typer.Option(
        False, "--force-mode", help="Keep all corpora whatever the model (default: off, the gate decides)."
    ),
    batch: Optional[Path] = typer.Option(
        None, "--batch", help='JSONL file of {"query": ...}; prints one JSON result per line (default: none).'
    ),
    explain: bool = typer.Option(
        False,
        "--explain",
        help="Show why each hit ranks where it does: cosine similarity, the vote of similar recorded queries, "
        "memory of the same query, the adapter and the ranks its reranker moved the hit between (default: off).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON (default: off, a table)."),
) -> None:
    """Search one or more corpora (matrix search) and print the merged, filtered, ranked hits."""
    top_k = renamed(top_k, top_k_old, "--top-k", "--per-corpus")
    if (text is None) == (batch is None):
        fail("give either TEXT or --batch FILE (one of them)")
    corpora = split_names(corpus)
    if not corpora:
        fail("--corpus needs at least one corpus name")
    options = dict(
        top_k=top_k,
        top_n=top,
        filter=parse_pairs(filters or [], "--filter"),
        where=where,
        relevance=relevance,
        model=model,
        force_mode=force_mode,
    )
    if batch is not None:
        lh = _lakehouse()
        queries = _read_queries(batch)
        with batch_progress("searching") as progress:
            for start in range(0, len(queries), 256):
                chunk = queries[start : start + 256]
                for result in lh.matrix.search_many(chunk, corpora, use_playbooks=playbook, explain=explain, **options):
                    print_json(_public(result.as_dict()))
                progress("searching", start + len(chunk), len(queries))
        return
    payload = {
        k: v
        for k, v in dict(query=text, corpora=corpora, playbooks=playbook, explain=explain, **options).items()
        if v is not None
    }
    result = _run_mode("matrix.search", payload)
    print_json(_public(result)) if json_out else _print_hits(result)


def _run_mode(name: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Through a running `lakehouse api` (model already loaded) if there is one, else in-process."""
    from flows.cli import remote

    routed = remote.call(name, payload)
    if routed is not None:
        return routed
    from modes.context import ModeContext
    from modes.invoke import invoke_mode

    with remote.loading_model_note():
        return invoke_mode(name, payload, ModeContext(lakehouse=_lakehouse(), source="mode", trusted_paths=True))


# playbook -------------------------------------------------------------------------------------
def _record(items: list[Any], json_out: bool) -> None:
    report = _run_mode("playbook.record", {"entries": items})
    if json_out:
        print_json(report)
    else:
        for row in report["results"]:
            if row.get("error"):
                line = f"[red]failed[/] {plain(row['error'])}"
            elif row.get("status") == "duplicate":
                line = f"[yellow]skipped[/] {row['id']} (duplicate: already recorded)"
            else:
                line = f"[green]recorded[/] {row['id']}"
            console.print(f"entry {row['index']}: {line}", highlight=False)
        skipped = report.get("skipped", 0)
        console.print(
            f"{report['recorded']} recorded, {report['failed']} failed"
            + (f", {skipped} skipped (already recorded)" if skipped else ""),
            highlight=False,
        )
    if report["failed"]:
        err_console.print(f"[bold red]error:[/] {report['failed']} of {len(items)} entries failed", highlight=False)
        raise typer.Exit(1)


@playbook_app.command("record")
def playbook_record(
    query: str = typer.Option(..., "--query", help="The query the answer was judged for."),
    answer: str = typer.Option(..., "--answer", help="Id of the judged hit."),
    corpus: str = typer.Option(..., "--corpus", help="Corpus holding the answer."),
    score: float = typer.Option(..., "--score", help="Judgement in [-1, 1]; negative demotes."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Record one judged answer."""
    if not math.isfinite(score):  # sent to a running API, NaN read as a request body that is not JSON
        fail(f"--score must be a number from -1 to 1, got {score}")
    _record([{"query": query, "answer": answer, "corpus": corpus, "score": score}], json_out)


@playbook_app.command("import")
def playbook_import(
    file: Path = typer.Argument(..., help="JSONL file: one {query, answer, corpus, score[, ts][, id]} per line."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Record many entries; invalid ones are reported per line and the rest are kept.

    A line that is not JSON makes the whole file unreadable: nothing is recorded. Importing is
    idempotent: each entry's id is its "id", else a hash of query, answer, corpus, score and ts, and
    an entry already recorded is skipped as a duplicate, so re-running an import that was cut
    short (a crash, a kill) stores every entry exactly once. An "id" already recorded for another
    judgement fails (a conflict), and is never stored over."""
    try:
        items = [item for _, item in read_json_lines(file)]
    except InputFileError as exc:
        fail(f"{exc}; nothing was recorded")
    if not items:
        fail(f"{file}: no entries")
    _record(items, json_out)


@playbook_app.command("lookup")
def playbook_lookup(
    query: str = typer.Argument(..., help="Query to match against recorded queries."),
    corpus: Optional[str] = typer.Option(None, "--corpus", help="Only these corpora, comma separated."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Show recorded entries whose query is similar to QUERY."""
    payload: dict[str, Any] = {"query": query}
    if corpus:
        payload["corpora"] = split_names(corpus)
    out = _run_mode("playbook.lookup", payload)
    if json_out:
        print_json(out)
        return
    table = Table(title=f"{out['count']} playbook matches")
    for column in ("similarity", "weight", "corpus", "answer", "score", "query", "id"):
        table.add_column(column, overflow="fold")
    for m in out["matches"]:
        table.add_row(
            f"{m['similarity']:.3f}",
            f"{m['weight']:.3f}",
            m["corpus"],
            m["answer"],
            str(m["score"]),
            m["query"],
            m["id"],
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(playbook_app, name="playbook")
    app.command("search")(search)
