"""`lakehouse ask "QUESTION" --corpus C[,D]`: an answer from matrix-search hits only, with its sources."""

from __future__ import annotations

from typing import Any, Optional

import typer

from flows.cli.common import console, err_console, fail, plain, print_json
from flows.cli.search import _run_mode, split_names
from lakehouse.search.filters import parse_pairs


def _print_answer(out: dict[str, Any]) -> None:
    console.print(plain(out["answer"]), highlight=False)
    if out["cited_hits"]:
        console.print("\n[bold]Sources[/]")
        for hit in out["cited_hits"]:
            title = hit["text"].split("\n")[0][:100]
            console.print(f"  [{plain(hit['id'])}] {plain(title)} ({plain(hit['corpus'])})", highlight=False)
    notes = []
    if not out["called_llm"]:
        notes.append("no model was asked: no hit passed the relevance filter")
    else:
        notes.append(f"answered by {out['model']} from {out['relevant_count']} hit(s)")
    flags = out["flagged"]
    if flags["invented_ids"]:
        notes.append(f"warning: cites ids that are not among the hits: {', '.join(flags['invented_ids'])}")
    if flags["uncited"]:
        notes.append("warning: the answer cites no hit")
    if out.get("finish_reason") == "length":
        notes.append("warning: the answer was cut off (the model hit its token limit)")
    for note in notes:
        err_console.print(plain(note), highlight=False)


def ask(
    question: str = typer.Argument(..., help="The question to answer from the corpora."),
    corpus: str = typer.Option(..., "--corpus", help="Corpus name(s) to search, comma separated."),
    filters: Optional[list[str]] = typer.Option(
        None,
        "--filter",
        help="Metadata KEY=VALUE; repeat a key for OR, keys are ANDed (default: no filter, every hit counts).",
    ),
    where: Optional[str] = typer.Option(
        None, "--where", help="SQL condition on the source table (pre-filter; default: none, every row)."
    ),
    top: Optional[int] = typer.Option(
        None, "--top", min=1, max=100, help="How many relevant hits the model reads at most (default 8)."
    ),
    model: Optional[str] = typer.Option(
        None,
        "--model",
        help="Model tier or provider/model that answers (default: the local_judge tier if configured, else "
        "[models] default).",
    ),
    force_mode: bool = typer.Option(
        False, "--force-mode", help="Search all corpora whatever the model (default: off, the downgrade gate decides)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON (default: off, the answer)."),
) -> None:
    """Answer QUESTION from the hits of a matrix search only, citing their ids.

    Only hits that pass the relevance filter are given to the model; when none does, the answer
    says so and no model is asked. Cited ids are checked against the hits: one that is not among
    them is flagged (a warning, and `flagged.invented_ids` in --json), and the answer still shown."""
    corpora = split_names(corpus)
    if not corpora:
        fail("--corpus needs at least one corpus name")
    payload = {
        k: v
        for k, v in dict(
            question=question,
            corpora=corpora,
            top_n=top,
            filter=parse_pairs(filters or [], "--filter"),
            where=where,
            model=model,
            force_mode=force_mode or None,
        ).items()
        if v is not None
    }
    out = _run_mode("ask", payload)
    print_json(out) if json_out else _print_answer(out)


def register(app: typer.Typer) -> None:
    app.command("ask")(ask)
