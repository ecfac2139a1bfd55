"""`lakehouse examples workers`: write a SYNTHETIC workers table (made-up, name-free profiles that
follow real BLS employment and wages; see lakehouse/data/synthetic_workers.py)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from flows.cli.common import console, err_console, plain, print_json

examples_app = typer.Typer(
    help="Generate example data sets (synthetic, for demos and scale tests).", no_args_is_help=True
)

# Below this many rows the file is written before a bar would draw.
_PROGRESS_MIN_ROWS = 100_000


@examples_app.command("workers")
def workers(
    rows: int = typer.Option(..., "--rows", help="Number of workers to generate (1 .. 20,000,000)."),
    out: Path = typer.Option(..., "--out", help="Output file: .parquet (fastest to ingest) or .jsonl."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed and --rows give the same file."),
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


def register(app: typer.Typer) -> None:
    app.add_typer(examples_app, name="examples")
