"""`lakehouse pathway|distill|drift ...`: the learning loop from the command line.

Every command runs its mode through `invoke_mode` (so it leaves the same audit row as a workflow
node), takes file paths relative to the current directory, and answers a missing or malformed
input file with the file and line and exit code 1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from flows.cli.common import LakehouseGroup, console, err_console, fail, parse_pair, plain, print_json
from flows.cli.flags import renamed, renamed_required
from lakehouse.search.filters import parse_pairs

pathway_app = typer.Typer(
    cls=LakehouseGroup,
    help="Pathway memory: versioned traces (add, revise, retire, history, search).",
    no_args_is_help=True,
)
distill_app = typer.Typer(
    cls=LakehouseGroup, help="Distillation: score evidence, export SFT data behind the firewall.", no_args_is_help=True
)
drift_app = typer.Typer(
    cls=LakehouseGroup, help="Drift checks: scorer, playbook and embedding drift.", no_args_is_help=True
)

JSON_OPT = typer.Option(False, "--json", help="Print the result as JSON on stdout.")


def _trace_line_model() -> Any:
    """The model of one line of a `pathway add --file` batch (built on use: pydantic is not imported for --help)."""
    from pydantic import BaseModel, ConfigDict, Field

    class TraceLine(BaseModel):
        model_config = ConfigDict(extra="forbid")
        text: str = Field(min_length=1)
        metadata: dict[str, Any] = Field(default_factory=dict)
        id: str | None = None

    return TraceLine


@contextmanager
def _working(message: str) -> Iterator[None]:
    """A spinner with elapsed time on stderr while a mode runs (model loads, many searches)."""
    if not err_console.is_terminal:  # scripts and logs get no spinner residue
        yield
        return
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err_console, transient=True
    ) as progress:
        progress.add_task(message, total=None)
        yield


def _run(name: str, payload: dict[str, Any], message: str | None = None) -> dict[str, Any]:
    """Run a mode as the CLI (failures: the one CLI policy, flows/cli/common.py)."""
    from lakehouse.core import Lakehouse
    from modes.context import ModeContext
    from modes.invoke import invoke_mode

    lakehouse = Lakehouse()
    try:
        with _working(message or f"{name}…"):
            return invoke_mode(name, payload, ModeContext.standalone(lakehouse, trusted_paths=True))
    finally:
        _warn_pathway_problems(lakehouse)
        lakehouse.close()


def _warn_pathway_problems(lakehouse) -> None:
    memory = lakehouse.__dict__.get("pathway")  # only if this command opened it
    for problem in memory.problems if memory is not None else []:
        err_console.print(f"[yellow]warning:[/] {problem}", highlight=False, soft_wrap=True)


def _path(value: Path | None) -> str | None:
    return None if value is None else str(value.expanduser().resolve())


def _csv(value: str | None) -> list[str] | None:
    return None if value is None else [part.strip() for part in value.split(",") if part.strip()]


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(plain(v) for v in row))
    console.print(table)


def _show_trace(verb: str, trace: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(trace)
    else:
        console.print(
            f"{verb} trace [bold]{trace['id']}[/] (version {trace['version']}, {trace['status']})", highlight=False
        )


# pathway -----------------------------------------------------------------------------------
@pathway_app.command("add")
def pathway_add(
    text: Optional[str] = typer.Argument(None, help="The trace text (omit when using --file)."),
    meta: Optional[list[str]] = typer.Option(
        None, "--meta", help="Metadata KEY=VALUE (repeatable, each key once; JSON values keep their type)."
    ),
    trace_id: Optional[str] = typer.Option(None, "--id", help="Use this id instead of a generated one."),
    file: Optional[Path] = typer.Option(
        None,
        "--file",
        help='Add many: a JSONL file of {"text", "metadata"?, "id"?}; a bad line adds nothing (every line '
        "is checked first), a re-run skips traces already added.",
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Add a trace (or a file of traces) to pathway memory."""
    if (text is None) == (file is None):
        fail("give the trace TEXT or --file FILE.jsonl, not both and not neither")
    if text is not None:
        trace = _run("pathway.add", {"text": text, "metadata": _meta(meta), "id": trace_id})
        _show_trace("added", trace["trace"], as_json)
        return
    from lakehouse.common.recordfile import InputFileError, read_records

    assert file is not None  # checked above: TEXT or --file
    try:  # validate the whole file before the first add, so a bad line adds nothing
        lines = read_records(file, _trace_line_model())
    except InputFileError as exc:
        fail(str(exc))
    ids = [line.id for line in lines if line.id]
    if len(ids) != len(set(ids)):
        fail(f"{file}: duplicate ids in the file: {sorted({i for i in ids if ids.count(i) > 1})}")
    entries = [line.model_dump(exclude_none=True) for line in lines]
    _check_trace_lines(file, entries)
    # one idempotent import: a re-run after a crash skips what is already in memory
    out = _run("pathway.import", {"entries": entries})
    if as_json:
        print_json(out)
    else:
        for failed in (r for r in out["results"] if r.get("error")):
            err_console.print(f"line {failed['index'] + 1}: {failed['error']}", highlight=False, markup=False)
        console.print(
            f"added {out['added']} traces from {file}, skipped {out['skipped']} already in memory, "
            f"{out['failed']} failed",
            highlight=False,
            markup=False,
        )
    if out["failed"]:
        raise typer.Exit(1)


def _check_trace_lines(file: Path, entries: list[dict[str, Any]]) -> None:
    """Every line's id, text and metadata values as the import checks them, before any is added:
    the import adds the good lines of a batch, and the help promises that a bad line adds nothing."""
    from lakehouse.learning.errors import PathwayError
    from lakehouse.learning.pathway import check_entry

    bad = []
    for number, entry in enumerate(entries, start=1):
        try:
            check_entry(entry)
        except PathwayError as exc:
            bad.append(f"line {number}: {exc}")
    if bad:
        fail(f"{file}: {len(bad)} line(s) are not valid traces; nothing was added\n" + "\n".join(bad[:20]))


def _meta(pairs: list[str] | None) -> dict[str, Any]:
    """--meta KEY=VALUE pairs; a key given twice is refused (search --filter takes a repeated key as
    OR, so keeping the last value without a word would be a trap)."""
    parsed = [parse_pair(pair, "--meta") for pair in pairs or []]
    seen: dict[str, Any] = {}
    for key, value in parsed:
        if key in seen:
            fail(
                f"--meta {key!r} is given twice ({key}={json.dumps(seen[key])}, {key}={json.dumps(value)}): a trace "
                f"keeps one value per key; for several give a JSON list: --meta '{key}=[...]'"
            )
        seen[key] = value
    return seen


@pathway_app.command("update")
def pathway_update(
    trace_id: str = typer.Argument(..., help="The trace to change in place."),
    text: Optional[str] = typer.Option(None, "--text", help="New text."),
    meta: Optional[list[str]] = typer.Option(None, "--meta", help="Metadata KEY=VALUE to set (merged; repeatable)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Change a trace's text or metadata without making a new version."""
    payload = {"id": trace_id, "text": text, "metadata": _meta(meta) if meta else None}
    _show_trace("updated", _run("pathway.update", payload)["trace"], as_json)


@pathway_app.command("revise")
def pathway_revise(
    trace_id: str = typer.Argument(..., help="The trace to revise (its latest version)."),
    text: str = typer.Argument(..., help="The new version's text."),
    meta: Optional[list[str]] = typer.Option(
        None, "--meta", help="Metadata KEY=VALUE for the new version (default: the old one's)."
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Write a new version linked to the old one; the old one leaves search."""
    payload = {"id": trace_id, "text": text, "metadata": _meta(meta) if meta else None}
    _show_trace("revised into", _run("pathway.revise", payload)["trace"], as_json)


@pathway_app.command("retire")
def pathway_retire(
    trace_id: str = typer.Argument(..., help="The trace to retire."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Why, kept with the trace."),
    as_json: bool = JSON_OPT,
) -> None:
    """Retire a trace: kept in the log and history, never returned by search."""
    _show_trace("retired", _run("pathway.retire", {"id": trace_id, "reason": reason})["trace"], as_json)


@pathway_app.command("history")
def pathway_history(
    trace_id: str = typer.Argument(..., help="The trace whose revise chain to walk backwards."),
    as_json: bool = JSON_OPT,
) -> None:
    """Show a trace's versions, newest first; loops and broken links are reported."""
    out = _run("pathway.history", {"id": trace_id})
    if as_json:
        print_json(out)
        return
    rows = [[t["id"], t["version"], t["status"], t["text"]] for t in out["chain"]]
    _table(f"history of {trace_id}", ["id", "version", "status", "text"], rows)
    if out["cycle"]:
        err_console.print(f"[yellow]warning:[/] the revise links loop: {' -> '.join(out['cycle'])}", highlight=False)
    if out["broken_link"]:
        err_console.print(
            f"[yellow]warning:[/] revises {out['broken_link']!r}, which is not in the log", highlight=False
        )


@pathway_app.command("search")
def pathway_search(
    query: str = typer.Argument(..., help="What to look for (semantic)."),
    where: Optional[list[str]] = typer.Option(
        None, "--filter", help="Metadata KEY=VALUE to require (repeatable; a JSON list is OR)."
    ),
    where_old: Optional[list[str]] = typer.Option(None, "--where", hidden=True, help="Deprecated: --filter."),
    top: Optional[int] = typer.Option(None, "--top", min=1, help="How many traces to return (default 5)."),
    top_k_old: Optional[int] = typer.Option(None, "--top-k", min=1, hidden=True, help="Deprecated: --top."),
    as_json: bool = JSON_OPT,
) -> None:
    """Search active traces by meaning, after a metadata filter."""
    where = renamed(where, where_old, "--where", "--filter")
    top_k = renamed(top, top_k_old, "--top-k", "--top", default=5)
    payload = {"query": query, "top_k": top_k, "where": parse_pairs(where or [], "--filter") or {}}
    out = _run("pathway.search", payload, "embedding and searching…")
    if as_json:
        print_json(out)
        return
    rows = [
        [f"{h['score']:.3f}", h["trace"]["id"], h["trace"]["text"], json.dumps(h["trace"]["metadata"])]
        for h in out["hits"]
    ]
    _table(f"{out['count']} trace(s) for {query!r}", ["score", "id", "text", "metadata"], rows)


# distill -----------------------------------------------------------------------------------
@distill_app.command("score")
def distill_score(
    evidence: Path = typer.Option(
        ...,
        "--evidence",
        help="JSONL evidence records (query, answer, judge_score, success, latency_ms, flags, source_run).",
    ),
    scorer: Optional[str] = typer.Option(None, "--scorer", help="Scorer version (default: LH_DISTILL_SCORER, v2)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write every scored record to this JSONL file."),
    as_json: bool = JSON_OPT,
) -> None:
    """Categorise evidence (gold / silver / needs_review / reject) with a versioned scorer."""
    payload = {
        "evidence_path": _path(evidence),
        "scorer_version": scorer,
        "out_path": _path(out),
        "include_results": as_json,
    }
    result = _run("distillation.score", payload)
    if as_json:
        print_json(result)
        return
    _table(
        f"{result['total']} records, scorer {result['scorer_version']}",
        ["category", "count"],
        [[c, n] for c, n in result["counts"].items()],
    )
    if result["out_path"]:
        console.print(f"scored records written to {result['out_path']}", highlight=False)


@distill_app.command("export")
def distill_export(
    evidence: Path = typer.Option(..., "--evidence", help="JSONL evidence records."),
    eval_file: Path = typer.Option(
        ..., "--eval", help="The evaluation set: JSONL with a `query` per line (a lift query file works)."
    ),
    out: Path = typer.Option(..., "--out", help="Where to write the SFT chat JSONL."),
    scorer: Optional[str] = typer.Option(None, "--scorer", help="Scorer version (default: LH_DISTILL_SCORER, v2)."),
    categories: str = typer.Option("gold", "--categories", help="Comma-separated categories to export."),
    ngram: Optional[int] = typer.Option(
        None, "--ngram", min=1, help="Firewall word n-gram size (default: LH_DISTILL_NGRAM, 3)."
    ),
    threshold: Optional[float] = typer.Option(
        None, "--threshold", help="Firewall overlap threshold in (0, 1] (default 0.5)."
    ),
    system_prompt: Optional[str] = typer.Option(
        None, "--system", help="System message of every example (default: the staffing prompt)."
    ),
    no_system: bool = typer.Option(False, "--no-system", help="Write examples without a system message."),
    as_json: bool = JSON_OPT,
) -> None:
    """Export kept records as SFT chat JSONL; records overlapping the evaluation set are refused and counted."""
    payload: dict[str, Any] = {
        "evidence_path": _path(evidence),
        "eval_path": _path(eval_file),
        "out_path": _path(out),
        "scorer_version": scorer,
        "categories": _csv(categories),
        "ngram": ngram,
        "threshold": threshold,
    }
    if no_system or system_prompt is not None:
        payload["system_prompt"] = None if no_system else system_prompt
    report = _run("distillation.export", payload)
    if as_json:
        print_json(report)
        return
    console.print(
        f"wrote {report['written']} of {report['considered']} records to {report['path']} "
        f"(scorer {report['scorer_version']}, categories {', '.join(report['categories'])})",
        highlight=False,
    )
    console.print(
        f"firewall: {report['contaminated']} record(s) overlapping the evaluation set refused "
        f"{report['contaminated_by_reason']}",
        highlight=False,
    )
    console.print(
        f"excluded by category: {report['excluded_by_category']}; duplicates: {report['duplicates']}", highlight=False
    )
    if report.get("superseded"):
        console.print(
            f"left out {report['superseded']} rating(s) a newer verdict on the same query and hit overruled",
            highlight=False,
        )


# drift -------------------------------------------------------------------------------------
@drift_app.command("scorer")
def drift_scorer(
    evidence: Optional[Path] = typer.Option(None, "--evidence", help="JSONL evidence records to re-score (required)."),
    history_old: Optional[Path] = typer.Option(None, "--history", hidden=True, help="Deprecated: --evidence."),
    old: str = typer.Option(..., "--old", help="The scorer version the history was scored with."),
    new: Optional[str] = typer.Option(None, "--new", help="The new scorer version (default: LH_DISTILL_SCORER)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Re-score evidence records with two scorer versions: drifted count and shift matrix (stable JSON)."""
    history = renamed_required(evidence, history_old, "--history", "--evidence")
    out = _run("drift.scorer", {"history_path": _path(history), "old_version": old, "new_version": new})
    if as_json:
        print_json(out)
        return
    console.print(
        f"{out['drifted']} of {out['total']} records change category from {out['old_version']} to {out['new_version']}",
        highlight=False,
    )
    _table("shift matrix", ["from", "to", "count"], [[s["from"], s["to"], s["count"]] for s in out["shift_matrix"]])


@drift_app.command("playbook")
def drift_playbook(
    corpus: str = typer.Option(..., "--corpus", help="Corpus name(s), comma-separated."),
    entries: Optional[Path] = typer.Option(
        None, "--entries", help="JSONL playbook entries (query, answer, corpus); default: the recorded playbooks."
    ),
    top: Optional[int] = typer.Option(
        None, "--top", min=1, help="A recorded answer outside today's top N has drifted (default 10)."
    ),
    top_k_old: Optional[int] = typer.Option(None, "--top-k", min=1, hidden=True, help="Deprecated: --top."),
    as_json: bool = JSON_OPT,
) -> None:
    """Recorded good matches whose answer is no longer in today's top k (playbook boost off)."""
    top_k = renamed(top, top_k_old, "--top-k", "--top", default=10)
    payload = {"corpora": _csv(corpus), "entries_path": _path(entries), "top_k": top_k}
    out = _run("drift.playbook", payload, "searching today's index…")
    if as_json:
        print_json(out)
        return
    console.print(f"{out['drifted']} of {out['checked']} playbook answers left the top {out['top_k']}", highlight=False)
    if out["not_ranked"]:
        console.print(
            f"{out['not_ranked']} recorded answer(s) outside the top {out['top_k']} were never in it: the index has "
            "not changed since they were recorded (not drift)",
            highlight=False,
        )
    if out.get("gone"):
        console.print(
            f"{out['gone']} recorded answer(s) are no longer in the corpus (deleted, or gone from its source): "
            "not drift",
            highlight=False,
        )
    for title, key in (("drifted", "drifted_entries"), ("not ranked", "not_ranked_entries"), ("gone", "gone_entries")):
        if out.get(key):
            rows = [[e["query"], e["answer"], e["corpus"], ", ".join(e["top_ids"][:3])] for e in out[key]]
            _table(title, ["query", "answer", "corpus", "today's top 3"], rows)


@drift_app.command("embedding")
def drift_embedding(
    a: Optional[Path] = typer.Option(
        None, "--a", help='Reference snapshot: .npy (2-D) or .jsonl ({"vector": [...]} per line).'
    ),
    b: Optional[Path] = typer.Option(None, "--b", help="The snapshot to compare with the reference."),
    corpus: Optional[str] = typer.Option(
        None, "--corpus", help="Compare two snapshots of this corpus's table instead of files."
    ),
    snapshot_a: Optional[int] = typer.Option(None, "--snapshot-a", help="Reference snapshot id of the corpus table."),
    snapshot_b: Optional[int] = typer.Option(None, "--snapshot-b", help="Snapshot id to compare (default: current)."),
    alpha: Optional[float] = typer.Option(None, "--alpha", help="Significance level (default: LH_DRIFT_ALPHA, 0.05)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Two-sample KS tests between two snapshots of embeddings (a 1-D projection and per dimension)."""
    payload = {
        "a_path": _path(a),
        "b_path": _path(b),
        "corpus": corpus,
        "snapshot_a": snapshot_a,
        "snapshot_b": snapshot_b,
        "alpha": alpha,
    }
    out = _run("drift.embedding", payload)
    if as_json:
        print_json(out)
        return
    for warning in out.get("warnings", []):
        err_console.print(f"[yellow]warning:[/] {plain(warning)}", highlight=False, soft_wrap=True)
    verdict = "[bold red]drifted[/]" if out["drifted"] else "[green]no drift[/]"
    console.print(f"{verdict} at alpha {out['alpha']} ({out['n_a']} vs {out['n_b']} vectors, {out['dim']} dims)")
    _table(
        "KS tests",
        ["test", "statistic", "p-value"],
        [
            [out["projection"], out["statistic"], f"{out['p_value']:.3g}"],
            [
                f"dimension {out['dimension']} (max, Bonferroni)",
                out["dimension_max_statistic"],
                f"{out['dimension_p_value']:.3g}",
            ],
        ],
    )


def register(app: typer.Typer) -> None:
    app.add_typer(pathway_app, name="pathway")
    app.add_typer(distill_app, name="distill")
    app.add_typer(drift_app, name="drift")
