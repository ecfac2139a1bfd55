"""`lakehouse lift run`: the playbook-lift quality test from the command line.

Runs the `lift.run` mode (so it leaves the same audit row as a workflow node) with a progress bar
per pass. A missing or malformed query file is reported with the file and line, exit code 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from flows.cli.common import LakehouseGroup, console, err_console, fail, print_json, stage_bars
from flows.cli.flags import renamed

lift_app = typer.Typer(
    cls=LakehouseGroup,
    help="The playbook-lift quality test: do recorded judgements lift later searches?",
    no_args_is_help=True,
)


@contextmanager
def _progress() -> Iterator[None]:
    """One bar per stage on stderr, fed by the mode's progress hook."""
    from lakehouse.learning.lift.harness import PROGRESS

    with stage_bars(PROGRESS):
        yield


def _path(value: Optional[Path]) -> Optional[str]:
    return None if value is None else str(value.expanduser())


def _show(out: dict[str, Any]) -> None:
    table = Table(title=f"playbook lift ({out['kind']})", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in out["report"].items():
        table.add_row(key, "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value))
    console.print(table)


@lift_app.command("run")
def lift_run(
    corpus: str = typer.Option(..., "--corpus", help="Corpus name(s) to search, comma-separated."),
    queries: Optional[Path] = typer.Option(
        None,
        "--queries",
        help='Verbatim replay: JSONL, one {"query", "expected"} per line (expected: optional list of ids).',
    ),
    train: Optional[Path] = typer.Option(
        None, "--train", help="Paraphrase pass: JSONL whose judged picks are recorded."
    ),
    test: Optional[Path] = typer.Option(
        None, "--test", help="Paraphrase pass: labelled JSONL measured cold vs warm (never recorded)."
    ),
    judge: str = typer.Option(
        "labels", "--judge", help="`labels` (best-ranked expected id) or a model: tier name or provider/model."
    ),
    top_k: Optional[int] = typer.Option(
        None, "--top", min=1, max=1000, help="The judge picks among the top N cold hits (default: LH_LIFT_TOP_K, 10)."
    ),
    top_k_old: Optional[int] = typer.Option(None, "--top-k", min=1, max=1000, hidden=True, help="Deprecated: --top."),
    out: Optional[Path] = typer.Option(
        None, "--out", help="Directory for the JSON, Markdown and PNG reports (default: LH_HOME/lift/<run id>)."
    ),
    boost: Optional[float] = typer.Option(
        None,
        "--boost",
        help=(
            "The playbook vote's weight for this run, in (0, 5] (default 1.5); "
            "an adapted corpus votes at its adapter's weight instead, 0.8 in a lift run."
        ),
    ),
    min_similarity: Optional[float] = typer.Option(
        None,
        "--min-similarity",
        help="Recorded queries less similar than this to a test title never vote, in [-1, 1) (default 0.3).",
    ),
    no_adapt: bool = typer.Option(
        False,
        "--no-adapt",
        help="Paraphrase pass: skip training an adapter on the run's own train picks (the adapted fields are null).",
    ),
    no_rerank: bool = typer.Option(
        False,
        "--no-rerank",
        help="Paraphrase pass: train the adapter alone, without the reranker of the best 30 hits "
        "(default: train it too; kept only when it helps).",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the report dict as JSON on stdout (report paths go to stderr)."
    ),
) -> None:
    """Cold pass (playbooks off), judge, record each pick as a playbook, warm pass (playbooks on);
    the paraphrase pass then trains an adapter on the recorded train picks and measures the test
    queries warm + adapted (a view of the corpus: nothing is committed).

    Each run records into its own fresh playbook store; the lakehouse's playbooks are untouched."""
    from lakehouse.core import Lakehouse
    from modes.context import ModeContext
    from modes.invoke import invoke_mode

    top_k = renamed(top_k, top_k_old, "--top-k", "--top")
    if queries is None and train is None and test is None:
        fail("give --queries FILE (verbatim replay) or --train FILE --test FILE (paraphrase pass)")
    payload = {
        "corpora": [c.strip() for c in corpus.split(",") if c.strip()],
        "queries_path": _path(queries),
        "train_path": _path(train),
        "test_path": _path(test),
        "judge": judge,
        "top_k": top_k,
        "out_dir": _path(out),
        "boost": boost,
        "min_similarity": min_similarity,
        "adapt": not no_adapt,
        "rerank": not no_rerank,
    }
    lakehouse = Lakehouse()
    try:
        with _progress():
            result = invoke_mode("lift.run", payload, ModeContext.standalone(lakehouse, trusted_paths=True))
    finally:  # errors: the one CLI policy (flows/cli/common.py)
        lakehouse.close()
    paths = result["paths"]
    if as_json:
        print_json(result["report"])
        err_console.print(
            f"reports: {paths['markdown']} {paths['json']} {paths['queries']} {paths['chart']}",
            highlight=False,
            soft_wrap=True,
        )
        return
    _show(result)
    console.print(
        f"report:  {paths['markdown']}\nchart:   {paths['chart']}\nJSON:    {paths['json']}\n"
        f"queries: {paths['queries']}",
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(lift_app, name="lift")
