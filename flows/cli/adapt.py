"""`lakehouse adapt`: learn a query adapter from a corpus's recorded matches, behind a gate.

Runs the `corpus.adapt` mode (one audit row, like a workflow node or HTTP) with a progress bar,
then prints the gate decision and why. Heavy imports (torch, the embedder) happen inside the
command, so `--help` stays instant.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from flows.cli.common import console, print_json, stage_bars
from flows.cli.flags import number_between


@contextmanager
def _progress() -> Iterator[None]:
    """One bar per stage on stderr, fed by the mode's progress hook."""
    from modes.catalog.adapt import PROGRESS

    with stage_bars(PROGRESS):
        yield


def _show(out: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"adapt {out['corpus']} (held back: {out['holdout_queries']} queries)", title_justify="left")
    table.add_column("")
    table.add_column("current", justify="right")
    table.add_column("adapted", justify="right")
    for key, name in (("recall_at_1", "recall@1"), ("recall_at_10", "recall@10")):
        table.add_row(name, f"{out['current'][key]:.3f}", f"{out['adapted'][key]:.3f}")
    console.print(table)
    for rule in out["rules"]:
        console.print(f"{'PASS' if rule['passed'] else 'FAIL'}  {rule['rule']}: {rule['detail']}", markup=False)
    train = out["train"]
    console.print(
        f"trained on {out['train_pairs']} of {out['pairs']} recorded matches in {train.get('cpu_s')} CPU s "
        f"({train.get('wall_s')} s wall, peak memory {train.get('peak_rss_mb')} MB)",
        markup=False,
    )
    if out.get("answers_gone"):
        console.print(
            f"left out {out['answers_gone']} recorded match(es) whose answer the corpus no longer holds (deleted rows)",
            markup=False,
            highlight=False,
        )
    tried = train.get("vote_weights_tried") or {}
    if tried:  # the gate chose the adapted generation's playbook vote weight on the held-back queries
        figures = ", ".join(f"{w}: {r['recall_at_1']:.3f} / {r['recall_at_10']:.3f}" for w, r in tried.items())
        console.print(
            f"playbook vote weight {train.get('vote_weight')} (held-back recall@1 / @10 by weight: {figures})",
            markup=False,
            highlight=False,
        )
    rerank = train.get("rerank") or {}
    if rerank:  # the reranker of the corpus's best hits, trained beside the adapter (kept only when it helped)
        console.print(f"reranker {_reranker(rerank)}", markup=False, highlight=False)
    console.print(out["decision"], markup=False, highlight=False)


def _reranker(rerank: dict[str, Any]) -> str:
    """The adapt report's verdict on the reranker: kept, with what its folds and the held-back
    pairs measured, or not kept and why; its training's CPU seconds last."""
    cpu = f", {rerank['cpu_s']} CPU s" if "cpu_s" in rerank else ""
    if not rerank.get("kept"):
        return f"not kept: {rerank.get('why')}{cpu}"
    check, held = rerank["check"], rerank.get("held_back")
    said = f"recall@1 on recorded queries its folds did not see: {check['recall_at_1_before']:.3f} -> "
    said += f"{check['recall_at_1_after']:.3f}"
    if held:  # `lakehouse adapt` searched the held-back pairs without and with it
        without, with_it = held["without"], held["with"]
        said += (
            f"; held-back recall@1 / @10 {without['recall_at_1']:.3f} / {without['recall_at_10']:.3f} without it, "
            f"{with_it['recall_at_1']:.3f} / {with_it['recall_at_10']:.3f} with it ({held['top1_better']} better "
            f"at top-1, {held['top1_worse']} worse, p = {held['p_worse']:.3g}: not worse beyond chance)"
        )
    return f"kept ({said}){cpu}"


def adapt(
    corpus: str = typer.Option(
        ..., "--corpus", help="The corpus whose recorded matches (ratings, placements) to learn from."
    ),
    holdout: float = typer.Option(
        0.2,
        "--holdout",
        parser=number_between(0.01, 0.99),
        metavar="SHARE",
        help="Share of the recorded queries held back for the gate, from 0.01 to 0.99 (default 0.2: 20%).",
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="Seeds the held-back split and the training (default 0)."),
    no_promote: bool = typer.Option(
        False,
        "--no-promote",
        help="Stage the adapter as a generation but never make it live (default: promote if it passes).",
    ),
    no_rerank: bool = typer.Option(
        False,
        "--no-rerank",
        help="Train the adapter alone, without the reranker of the best 30 hits (default: train it too, "
        "about 4x the CPU time; kept only when it lifts recall@1 on recorded queries its folds did not see).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Learn a query adapter from the corpus's recorded matches; make it live only if it beats the live
    generation on held-back matches (recall@1 higher, recall@10 at most 0.01 lower, the gain not chance).

    The adapter is kept as a new generation either way: `lakehouse corpus generations C` lists it,
    `lakehouse corpus promote C GEN` / `rollback C` switch."""
    from lakehouse.core import Lakehouse
    from modes.context import ModeContext
    from modes.invoke import invoke_mode

    payload = {
        "corpus": corpus,
        "holdout": holdout,
        "seed": seed,
        "promote": not no_promote,
        "rerank": not no_rerank,
    }
    lakehouse = Lakehouse()
    try:
        with _progress():
            out = invoke_mode("corpus.adapt", payload, ModeContext.standalone(lakehouse, trusted_paths=True))
    finally:  # errors: the one CLI policy (flows/cli/common.py)
        lakehouse.close()
    if as_json:
        print_json(out)
        return
    _show(out)


def register(app: typer.Typer) -> None:
    app.command("adapt")(adapt)
