"""`lakehouse examples workers`: write a SYNTHETIC workers table (made-up, name-free profiles that
follow real BLS employment and wages; see lakehouse/data/synthetic_workers.py). `lakehouse examples
titles`: O*NET's alternate titles as a ratings file for an occupations corpus
(lakehouse/learning/seed_titles.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from flows.cli.common import LakehouseGroup, console, err_console, plain, print_json

examples_app = typer.Typer(
    cls=LakehouseGroup,
    help="Generate example data sets (synthetic workers; O*NET title ratings).",
    no_args_is_help=True,
)

# Below this many rows the file is written before a bar would draw.
_PROGRESS_MIN_ROWS = 100_000


@examples_app.command("workers")
def workers(
    rows: int = typer.Option(
        ..., "--rows", min=1, max=20_000_000, help="Number of workers to generate (1 .. 20,000,000)."
    ),
    out: Path = typer.Option(..., "--out", help="Output file: .parquet (fastest to ingest) or .jsonl."),
    seed: int = typer.Option(
        0, "--seed", min=0, help="Random seed (0 or more): the same seed and --rows give the same file."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the result (path, rows, bytes, sha256) as JSON."),
) -> None:
    """Write a SYNTHETIC workers table: made-up, name-free worker profiles (occupation, state, city,
    certifications, years of experience, availability, hourly pay expectation, a free-text profile).
    Nothing describes a real person: occupations and states follow May 2025 BLS OEWS employment, pay
    follows the BLS wage of the occupation in the state, titles come from O*NET. Deterministic for a
    given --seed and --rows."""
    from lakehouse.data import synthetic_workers

    synthetic_workers.check_rows(rows)
    synthetic_workers.output_format(out)
    if json_out or rows < _PROGRESS_MIN_ROWS:
        result = synthetic_workers.write_workers(out, rows, seed)
    else:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=err_console, transient=True) as bar:
            task = bar.add_task(f"workers -> {out.name}", total=rows)
            result = synthetic_workers.write_workers(
                out, rows, seed, progress=lambda done: bar.update(task, completed=done)
            )
    if json_out:
        print_json(result.__dict__)
        return
    console.print(
        f"wrote {result.rows:,} synthetic workers to {plain(result.path)} ({result.format}, "
        f"{result.bytes:,} bytes, seed {result.seed}, sha256 {result.sha256[:12]})",
        highlight=False,
    )


@examples_app.command("titles")
def titles(
    corpus: str = typer.Option(..., "--corpus", help="The occupations corpus (ids: O*NET-SOC codes) to rate."),
    out: Path = typer.Option(..., "--out", help="Output ratings file: .csv or .jsonl (for `lakehouse rate --file`)."),
    exclude: Optional[list[Path]] = typer.Option(
        None, "--exclude", help='A lift file (JSONL {"query": ...}) whose titles to leave out (a test set); repeatable.'
    ),
    limit: Optional[int] = typer.Option(None, "--titles", help="At most this many titles (default: all, ~42,000)."),
    seed: int = typer.Option(7, "--seed", help="Random seed of the title order (what --titles keeps)."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Write O*NET's alternate titles (52,754 titles employers use, O*NET 27.0, CC BY 4.0) as `good`
    ratings for CORPUS: a day-one history of matches. Import with `lakehouse rate --file OUT`, then
    `lakehouse adapt --corpus CORPUS`. Occupations the corpus does not hold are left out and counted."""
    from lakehouse.core import Lakehouse
    from lakehouse.learning.seed_titles import write_title_ratings

    lh = Lakehouse()
    try:
        ids = set(lh.corpora.get(corpus).ids())
    finally:
        lh.close()
    result = write_title_ratings(out, corpus, ids, list(exclude or []), limit, seed)
    if json_out:
        print_json(result.__dict__)
        return
    console.print(
        f"wrote {result.ratings:,} ratings for {result.titles:,} titles to {plain(result.path)} "
        f"(corpus {result.corpus}; {result.excluded_titles:,} titles excluded, {result.not_in_corpus:,} "
        "pairs outside the corpus)",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(examples_app, name="examples")
