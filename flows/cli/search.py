"""`lakehouse corpus …`, `lakehouse search …`, `lakehouse playbook …`: vector corpora and matrix search."""

from __future__ import annotations

import json
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

from flows.cli.common import console, err_console, fail, parse_pair, plain, print_json
from flows.cli.flags import renamed

corpus_app = typer.Typer(help="Build and manage vector corpora (one HNSW index per corpus).", no_args_is_help=True)
playbook_app = typer.Typer(help="Record judged answers that lift later, similar searches.", no_args_is_help=True)

JSON_HELP = "Print JSON instead of a table."


def _lakehouse():
    from lakehouse.core import Lakehouse

    return Lakehouse()


def _run(name: str, payload: dict[str, Any], lh: Any = None) -> dict[str, Any]:
    """Run a mode as the CLI through `invoke_mode` (one ObservedOp; errors: the one CLI policy)."""
    from modes.context import ModeContext
    from modes.invoke import invoke_mode

    return invoke_mode(name, payload, ModeContext.standalone(lh or _lakehouse(), trusted_paths=True))


@contextmanager
def _embedding_progress(description: str) -> Iterator[None]:
    """The progress bar of `_progress`, fed by the corpus modes' progress hook."""
    from modes.catalog.corpus import PROGRESS

    with _progress(description) as progress:
        token = PROGRESS.set(progress)
        try:
            yield
        finally:
            PROGRESS.reset(token)


@contextmanager
def _progress(description: str) -> Iterator[Any]:
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


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _print_dict(data: dict[str, Any], title: str) -> None:
    table = Table(title=title, show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in data.items():
        table.add_row(key, plain(json.dumps(value, default=str) if isinstance(value, (dict, list)) else value))
    console.print(table)


# corpus ---------------------------------------------------------------------------------------
@corpus_app.command("build")
def corpus_build(
    name: str = typer.Argument(..., help="Corpus name (lower-case letters, digits, '_')."),
    table: str = typer.Option(..., "--table", help="Source table (`name` or `namespace.name`)."),
    text: list[str] = typer.Option(
        ..., "--text", help="Text column(s) to embed: comma separated or the option repeated, in order."
    ),
    id_col: str = typer.Option(..., "--id", help="Column holding each row's unique id."),
    metadata: Optional[list[str]] = typer.Option(
        None,
        "--meta-cols",
        help="Columns kept as hit metadata (what --filter matches): comma separated or the option repeated.",
    ),
    metadata_old: Optional[list[str]] = typer.Option(None, "--metadata", hidden=True, help="Deprecated: --meta-cols."),
    where: Optional[str] = typer.Option(None, "--where", help="SQL condition: index only the matching rows."),
    model: Optional[str] = typer.Option(None, "--model", help="Embedding model: minilm, wordllama or litellm:<model>."),
    replace: bool = typer.Option(False, "--replace", help="Replace an existing corpus of this name."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Embed a table into a new corpus persisted under _vectors/NAME/."""
    metadata = renamed(metadata or None, metadata_old or None, "--metadata", "--meta-cols")
    payload = {
        "name": name,
        "table": table,
        "text_cols": _split(",".join(text)),
        "id_col": id_col,
        "metadata_cols": _split(",".join(metadata or [])),
        "where": where,
        "model": model,
        "rebuild": replace,
        "if_exists": "fail",
    }
    with _embedding_progress(f"embedding {name}"):
        result = _run("corpus.build", payload)
    _print_build(result, json_out)


def _print_build(result: dict[str, Any], json_out: bool) -> None:
    if json_out:
        print_json(result)
    else:
        console.print(
            f"[green]{result['status']}[/] corpus {result['corpus']}: +{result['added']} rows, "
            f"{result['count']} searchable"
            + (f", {result['skipped']} rows without text skipped" if result["skipped"] else "")
        )


@corpus_app.command("add")
def corpus_add(
    name: str = typer.Argument(..., help="Corpus name."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Index the source table's rows whose ids the corpus has not seen yet."""
    with _embedding_progress(f"embedding {name}"):
        result = _run("corpus.add", {"name": name})
    _print_build(result, json_out)


@corpus_app.command("delete")
def corpus_delete(
    name: str = typer.Argument(..., help="Corpus name."),
    ids: str = typer.Option(..., "--ids", help="Ids to remove from search, comma separated."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Remove rows from search (marked deleted in the index; `rebuild` compacts)."""
    data = _run("corpus.delete", {"name": name, "ids": _split(ids)})
    print_json(data) if json_out else console.print(
        f"deleted {data['deleted']} from {name}; {data['count']} searchable"
    )


@corpus_app.command("rebuild")
def corpus_rebuild(
    name: str = typer.Argument(..., help="Corpus name."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Rebuild the index from the stored vectors with the current HNSW settings."""
    result = _run("corpus.rebuild", {"name": name})
    _print_build(result, json_out)


@corpus_app.command("list")
def corpus_list(json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List corpora with their size, model and source table."""
    rows = _run("corpus.list", {})["corpora"]
    if json_out:
        print_json(rows)
        return
    table = Table(title=f"corpora ({len(rows)})")
    for column in ("name", "count", "model", "dims", "table", "updated_at"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c]) for c in ("name", "count", "model", "dims", "table", "updated_at")))
    console.print(table)


@corpus_app.command("show")
def corpus_show(
    name: str = typer.Argument(..., help="Corpus name."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Show a corpus manifest: model, dims, HNSW params, source table and snapshot, count,
    live generation and query adapter."""
    data = _run("corpus.show", {"name": name})
    print_json(data) if json_out else _print_dict(data, f"corpus {name}")


@corpus_app.command("drop")
def corpus_drop(
    name: str = typer.Argument(..., help="Corpus name."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Delete a corpus: index files, manifest and corpus table (the source table stays)."""
    data = _run("corpus.drop", {"name": name})
    print_json(data) if json_out else console.print(f"dropped corpus {name} ({data['count']} rows)")


@corpus_app.command("generations")
def corpus_generations(
    name: str = typer.Argument(..., help="Corpus name."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List the corpus's kept generations (every commit, every staged adapter), newest first."""
    data = _run("corpus.generations", {"name": name})
    if json_out:
        print_json(data)
        return
    table = Table(title=f"corpus {name}: generations (live: {data['live']})")
    for column in ("gen", "live", "count", "adapter", "reason", "parent", "created_at"):
        table.add_column(column)
    for row in data["generations"]:
        adapter = row["adapter"]  # its metadata in full: --json
        table.add_row(
            str(row["generation"]),
            "[green]live[/]" if row["live"] else "",
            str(row["count"]),
            "" if adapter is None else plain(str(adapter.get("kind") or "yes")),
            plain(row["reason"]),
            "" if row["parent"] is None else str(row["parent"]),
            plain(row["created_at"]),
        )
    console.print(table)


def _print_switch(data: dict[str, Any], json_out: bool) -> None:
    if json_out:
        print_json(data)
    elif not data["changed"]:
        console.print(f"corpus {data['corpus']}: generation {data['live']} is already live; nothing changed")
    else:
        console.print(
            f"[green]{data['action']}[/] corpus {data['corpus']}: generation {data['live']} is live "
            f"(was {data['previous']})"
        )


@corpus_app.command("promote")
def corpus_promote(
    name: str = typer.Argument(..., help="Corpus name."),
    generation: int = typer.Argument(..., help="Generation to make live (see `corpus generations`)."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Make a kept generation live (e.g. a staged adapter); the next search uses it."""
    _print_switch(_run("corpus.promote", {"name": name, "generation": generation}), json_out)


@corpus_app.command("rollback")
def corpus_rollback(
    name: str = typer.Argument(..., help="Corpus name."),
    generation: Optional[int] = typer.Argument(
        None, help="Generation to make live; default: the one live before the current one."
    ),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Make the previously live generation (or GENERATION) live again."""
    _print_switch(_run("corpus.rollback", {"name": name, "generation": generation}), json_out)


# search ---------------------------------------------------------------------------------------
def _parse_filters(pairs: list[str] | None) -> dict[str, Any] | None:
    """`KEY=VALUE` pairs; a repeated key is OR (`state=IL --filter state=WI`); a JSON list too."""
    flt: dict[str, list[Any]] = {}
    for pair in pairs or []:
        key, value = parse_pair(pair, "--filter")
        flt.setdefault(key.strip(), []).extend(value if isinstance(value, list) else [value])
    return {k: v[0] if len(v) == 1 else v for k, v in flt.items()} or None


def _json_lines(path: Path, after_error: str = "") -> list[tuple[int, Any]]:
    """(line number, value) per non-blank line; a missing file or a bad line fails the command."""
    if not path.is_file():
        fail(f"{path}: no such file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        fail(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})")
    items = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            try:
                items.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                fail(f"{path} line {number} column {exc.colno}: not valid JSON ({exc.msg}){after_error}")
    return items


def _read_queries(path: Path) -> list[str]:
    queries = []
    for number, item in _json_lines(path):
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
        "memory of the same query, the adapter (default: off).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON (default: off, a table)."),
) -> None:
    """Search one or more corpora (matrix search) and print the merged, filtered, ranked hits."""
    top_k = renamed(top_k, top_k_old, "--top-k", "--per-corpus")
    if (text is None) == (batch is None):
        fail("give either TEXT or --batch FILE (one of them)")
    corpora = _split(corpus)
    if not corpora:
        fail("--corpus needs at least one corpus name")
    options = dict(
        top_k=top_k,
        top_n=top,
        filter=_parse_filters(filters),
        where=where,
        relevance=relevance,
        model=model,
        force_mode=force_mode,
    )
    if batch is not None:
        lh = _lakehouse()
        queries = _read_queries(batch)
        with _progress("searching") as progress:
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

    remote.loading_model_note()
    return invoke_mode(name, payload, ModeContext(lakehouse=_lakehouse(), source="mode", trusted_paths=True))


# playbook -------------------------------------------------------------------------------------
def _record(items: list[Any], json_out: bool) -> None:
    report = _run_mode("playbook.record", {"entries": items})
    if json_out:
        print_json(report)
    else:
        for row in report["results"]:
            if row.get("status") == "duplicate":
                line = f"[yellow]skipped[/] {row['id']} (duplicate: already recorded)"
            elif row.get("id"):
                line = f"[green]recorded[/] {row['id']}"
            else:
                line = f"[red]failed[/] {row['error']}"
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
    short (a crash, a kill) stores every entry exactly once."""
    items = [item for _, item in _json_lines(file, after_error="; nothing was recorded")]
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
        payload["corpora"] = _split(corpus)
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
    app.add_typer(corpus_app, name="corpus")
    app.add_typer(playbook_app, name="playbook")
    app.command("search")(search)
