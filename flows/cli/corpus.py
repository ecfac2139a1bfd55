"""`lakehouse corpus …`: build and manage vector corpora and their generations.

Each command runs its `corpus.*` mode in-process (one audit row, like a workflow node); builds and
adds show an embedding progress bar on stderr.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional

import typer
from rich.table import Table

from flows.cli.common import LakehouseGroup, console, err_console, fail, plain, print_json
from flows.cli.flags import renamed, renamed_required
from flows.cli.search import JSON_HELP, batch_progress, run_local, split_names

corpus_app = typer.Typer(
    cls=LakehouseGroup, help="Build and manage vector corpora (one HNSW index per corpus).", no_args_is_help=True
)


@contextmanager
def _embedding_progress(description: str) -> Iterator[None]:
    """The progress bar of `_progress`, fed by the corpus modes' progress hook."""
    from modes.catalog.corpus import PROGRESS

    with batch_progress(description) as progress:
        token = PROGRESS.set(progress)
        try:
            yield
        finally:
            PROGRESS.reset(token)


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
    id_column: Optional[str] = typer.Option(
        None, "--id-column", help="Column holding each row's unique id (required)."
    ),
    id_col_old: Optional[str] = typer.Option(None, "--id", hidden=True, help="Deprecated: --id-column."),
    metadata: Optional[list[str]] = typer.Option(
        None,
        "--meta-cols",
        help="Columns kept as hit metadata (what --filter matches): comma separated or the option repeated.",
    ),
    metadata_old: Optional[list[str]] = typer.Option(None, "--metadata", hidden=True, help="Deprecated: --meta-cols."),
    where: Optional[str] = typer.Option(None, "--where", help="SQL condition: index only the matching rows."),
    model: Optional[str] = typer.Option(None, "--model", help="Embedding model: minilm, wordllama or litellm:<model>."),
    title: str = typer.Option(
        "auto",
        "--title",
        help="A short name-like column (a job title) also embedded on its own and averaged into each row's "
        "vector, so a long description does not drown it. Default auto: the first --text column when there "
        "are two or more; none: off; or a column name.",
    ),
    replace: bool = typer.Option(False, "--replace", help="Replace an existing corpus of this name."),
    dask: Optional[str] = typer.Option(
        None,
        "--dask",
        help="Embed on a Dask cluster: a scheduler address (tcp://host:8786) or local[:N] for a LocalCluster "
        "of N workers (default: in this process, unless LH_DASK_ADDRESS names a cluster).",
    ),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Embed a table into a new corpus persisted under _vectors/NAME/."""
    metadata = renamed(metadata or None, metadata_old or None, "--metadata", "--meta-cols")
    id_col = renamed_required(id_column, id_col_old, "--id", "--id-column")
    payload = {
        "name": name,
        "table": table,
        "text_cols": split_names(",".join(text)),
        "id_col": id_col,
        "metadata_cols": split_names(",".join(metadata or [])),
        "where": where,
        "model": model,
        "title": title,
        "rebuild": replace,
        "if_exists": "fail",
    }
    lh = None
    if dask:
        from lakehouse.config import get_settings
        from lakehouse.core import Lakehouse

        lh = Lakehouse(get_settings().model_copy(update={"dask_address": dask}))
    with _embedding_progress(f"embedding {name}"):
        result = run_local("corpus.build", payload, lh)
    _print_build(result, json_out)
    if result["count"] == 0 and result["status"] in ("created", "replaced"):  # a typo'd --where, most often
        matched = f" matched --where {where!r}" if where else ""
        err_console.print(
            f"[yellow]note:[/] corpus {plain(name)} is empty: no row of table {plain(table)}{plain(matched)}; "
            f"searches find nothing until `lakehouse corpus add {plain(name)}` indexes rows the table gains",
            highlight=False,
            soft_wrap=True,
        )


def _print_build(result: dict[str, Any], json_out: bool) -> None:
    if json_out:
        print_json(result)
    else:
        console.print(
            f"corpus {result['corpus']} [green]{result['status'].replace('_', ' ')}[/]: +{result['added']} rows, "
            + _changed(result["manifest"].get("changes") if result["status"] == "updated" else None)
            + f"{result['count']} searchable"
            + (f", {result['skipped']} rows without text skipped" if result["skipped"] else "")
        )


def _changed(changes: dict[str, int] | None) -> str:
    """What an add changed besides new rows (`CorpusManager.add`), each part ending in ', '."""
    words = {
        "text_changed": "changed rows embedded again",
        "metadata_changed": "rows with new metadata",
        "gone": "rows no longer in the source taken out",
    }
    return "".join(f"{(changes or {}).get(kind)} {what}, " for kind, what in words.items() if (changes or {}).get(kind))


@corpus_app.command("add")
def corpus_add(
    name: str = typer.Argument(..., help="Corpus name."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Bring a corpus up to date with its source table: index new rows, embed changed rows again and
    take out rows that left the table (ids removed with `corpus delete` stay out)."""
    with _embedding_progress(f"embedding {name}"):
        result = run_local("corpus.add", {"name": name})
    _print_build(result, json_out)


@corpus_app.command("delete")
def corpus_delete(
    name: str = typer.Argument(..., help="Corpus name."),
    ids: Optional[str] = typer.Option(
        None, "--ids", help="Ids to remove from search, comma separated; each exactly as stored (spaces count)."
    ),
    one_id: Optional[list[str]] = typer.Option(
        None, "--id", help="One id to remove, exactly as given (it may hold a comma); repeat for more."
    ),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Remove rows from search (marked deleted in the index; `rebuild` compacts)."""
    # never stripped: the corpus keeps ids as its source holds them, and "job1 " is not "job1"
    chosen = [part for part in (ids or "").split(",") if part] + list(one_id or [])
    if not chosen:
        fail("give the ids to delete: --ids A,B or --id A (repeatable)")
    data = run_local("corpus.delete", {"name": name, "ids": chosen})
    print_json(data) if json_out else console.print(
        f"deleted {data['deleted']} from {name}; {data['count']} searchable"
    )


@corpus_app.command("rebuild")
def corpus_rebuild(
    name: str = typer.Argument(..., help="Corpus name."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Rebuild the index from the stored vectors with the current HNSW settings."""
    result = run_local("corpus.rebuild", {"name": name})
    _print_build(result, json_out)


@corpus_app.command("list")
def corpus_list(json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List corpora with their size, model and source table."""
    rows = run_local("corpus.list", {})["corpora"]
    if json_out:
        print_json(rows)
        return
    table = Table(title=f"corpora ({len(rows)})")
    for column in ("name", "count", "model", "dims", "table", "updated_at"):
        table.add_column(column)
    for row in rows:
        if row.get("unavailable"):
            table.add_row(row["name"], "unavailable", "", "", "", "")
            continue
        table.add_row(*(str(row[c]) for c in ("name", "count", "model", "dims", "table", "updated_at")))
    console.print(table)
    for row in rows:
        if row.get("unavailable"):
            err_console.print(
                f"[yellow]warning:[/] corpus {plain(repr(row['name']))} is unavailable: {plain(row['unavailable'])}",
                highlight=False,
            )


@corpus_app.command("show")
def corpus_show(
    name: str = typer.Argument(..., help="Corpus name."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Show a corpus manifest: model, dims, HNSW params, source table and snapshot, count,
    live generation and query adapter."""
    data = run_local("corpus.show", {"name": name})
    print_json(data) if json_out else _print_dict(data, f"corpus {name}")


@corpus_app.command("drop")
def corpus_drop(
    name: str = typer.Argument(..., help="Corpus name."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Delete a corpus: index files, manifest and corpus table (the source table stays)."""
    data = run_local("corpus.drop", {"name": name})
    print_json(data) if json_out else console.print(f"dropped corpus {name} ({data['count']} rows)")


@corpus_app.command("generations")
def corpus_generations(
    name: str = typer.Argument(..., help="Corpus name."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List the corpus's kept generations (every commit, every staged adapter), newest first."""
    data = run_local("corpus.generations", {"name": name})
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
            + (f"(was {data['previous']})" if data["previous"] else "(its live manifest was unreadable)")
        )
        if data.get("rows"):
            err_console.print(f"[yellow]note:[/] {plain(data['rows'])}", highlight=False, soft_wrap=True)


@corpus_app.command("promote")
def corpus_promote(
    name: str = typer.Argument(..., help="Corpus name."),
    generation: int = typer.Argument(..., help="Generation to make live (see `corpus generations`)."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Make a kept generation live (e.g. a staged adapter); the next search uses it."""
    _print_switch(run_local("corpus.promote", {"name": name, "generation": generation}), json_out)


@corpus_app.command("rollback")
def corpus_rollback(
    name: str = typer.Argument(..., help="Corpus name."),
    generation: Optional[int] = typer.Argument(
        None, help="Generation to make live; default: the one live before the current one."
    ),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Make the previously live generation (or GENERATION) live again."""
    _print_switch(run_local("corpus.rollback", {"name": name, "generation": generation}), json_out)


# search ---------------------------------------------------------------------------------------


def register(app: typer.Typer) -> None:
    app.add_typer(corpus_app, name="corpus")
