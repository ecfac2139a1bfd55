"""Write a lift result as JSON, per-query JSONL, Markdown and a PNG chart (cold / warm / adapted)."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from lakehouse.common.recordfile import write_json_lines_atomic
from lakehouse.learning.errors import LiftOutDirError
from lakehouse.learning.lift.types import LiftResult

TITLES = {"verbatim": "Playbook lift: verbatim replay", "paraphrase": "Playbook lift: paraphrase pass"}


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def cold_warm_pairs(result: LiftResult) -> list[tuple[str, float | None, float | None, float | None]]:
    """(metric, cold, warm, adapted) rows for the chart and the Markdown table (adapted: None
    when the run did not adapt, and always for the verbatim replay)."""
    report, rows = result.report, result.rows
    if result.kind == "paraphrase":
        return [
            ("recall@1", report["recall_at_1_cold"], report["recall_at_1_warm"], report.get("recall_at_1_adapted")),
            ("recall@10", report["recall_at_10_cold"], report["recall_at_10_warm"], report.get("recall_at_10_adapted")),
        ]
    judged = [r for r in rows if r["pick"] is not None]
    share = (lambda key: round(sum(r[key] for r in judged) / len(judged), 6)) if judged else (lambda key: None)
    return [
        ("recall@1 (labels)", report["recall_at_1_cold"], report["recall_at_1_warm"], None),
        ("judged pick at top-1", share("pick_top1_cold"), share("pick_top1_warm"), None),
    ]


def _adapted(result: LiftResult) -> bool:
    return any(adapted is not None for *_, adapted in cold_warm_pairs(result))


def markdown(result: LiftResult, chart: Path | None = None) -> str:
    meta = result.meta
    lines = [f"# {TITLES[result.kind]}", ""]
    lines += [
        f"- corpora: {', '.join(meta.get('corpora', []))}; judge: `{meta.get('judge')}`; top K: {meta.get('top_k')}",
        f"- playbook boost {meta.get('playbook_boost')}, lookup similarity >= "
        f"{meta.get('playbook_min_similarity')}, embedding model `{meta.get('embed_model')}`",
        f"- fresh playbook store of this run: `{meta.get('playbook_store')}`",
    ]
    for corpus, weights in (meta.get("vote_weights_changed") or {}).items():
        lines.append(
            f"- `{corpus}` votes at {weights['run']} in this run's store (its live generation's "
            f"{weights['live']} was chosen for a longer history)"
        )
    for key in ("queries_file", "train_file", "test_file"):
        if meta.get(key):
            lines.append(f"- {key.replace('_', ' ')}: `{meta[key]}`")
    lines += ["", "| metric | value |", "|---|---|"]
    lines += [f"| {key} | {_fmt(value)} |" for key, value in result.report.items()]
    if _adapted(result):
        lines += ["", "| | cold | warm | adapted |", "|---|---|---|---|"]
        lines += [f"| {n} | {_fmt(c)} | {_fmt(w)} | {_fmt(a)} |" for n, c, w, a in cold_warm_pairs(result)]
        adapt = meta.get("adapt") or {}
        gate = adapt.get("gate") or {}
        lines += [
            "",
            f"- adapter: trained on {adapt.get('pairs')} recorded train pairs in {adapt.get('cpu_s')} CPU s "
            f"({adapt.get('wall_s')} s wall), peak memory {adapt.get('peak_rss_mb')} MB; the adapt gate "
            f"(adapted vs warm on these test queries) would {'promote' if gate.get('passed') else 'refuse'} it: "
            + "; ".join(r["detail"] for r in gate.get("rules", [])),
        ]
        for name, corpus in (adapt.get("corpora") or {}).items():
            rerank = corpus.get("rerank") or {}
            check = rerank.get("check") or {}
            if rerank.get("kept"):
                lines.append(
                    f"- reranker ({name}): kept, recall@1 on recorded queries its folds did not see "
                    f"{check.get('recall_at_1_before')} -> {check.get('recall_at_1_after')}, "
                    f"{rerank.get('cpu_s')} CPU s"
                )
            elif rerank:
                lines.append(f"- reranker ({name}): not kept: {rerank.get('why')}")
    else:
        lines += ["", "| | cold | warm |", "|---|---|---|"]
        lines += [f"| {name} | {_fmt(cold)} | {_fmt(warm)} |" for name, cold, warm, _ in cold_warm_pairs(result)]
    if chart is not None:
        lines += ["", f"Chart (PNG): `{chart}`", "", f"![cold vs warm]({chart.name})"]
    lines += _hubs(result)
    lines += _misses(result)
    return "\n".join(lines) + "\n"


def _hubs(result: LiftResult, limit: int = 5, least: int = 3) -> list[str]:
    """Rows the last pass puts first for test queries that are not theirs, `least` times or more:
    a row the recorded matches turned into a hub (often a catch-all like "..., All Other"), whose
    own answers are worth checking before more are recorded."""
    if result.kind != "paraphrase":
        return []
    stage = _stages(result)[-1]
    first: Counter[tuple[str, str]] = Counter()
    wrong: Counter[tuple[str, str]] = Counter()
    titles: dict[tuple[str, str], str] = {}
    theirs: Counter[str] = Counter(e for r in result.rows for e in set(r["expected"]))
    for r in result.rows:
        top = r.get(f"{stage}_top1")
        if top:
            first[top["corpus"], top["id"]] += 1
            titles[top["corpus"], top["id"]] = top.get("title", "")
            wrong[top["corpus"], top["id"]] += top["id"] not in r["expected"]
    hubs = [(row, n) for row, n in wrong.most_common() if n >= least][:limit]
    if not hubs:
        return []
    columns = ["corpus", "row", "first line", "first for", "of them wrong", "test queries it answers"]
    return [
        "",
        f"Rows the {stage} pass puts first for queries that are not theirs ({least} or more; a row the "
        "recorded matches made a hub):",
        "",
        *_table(columns, [[c, i, titles[c, i], first[c, i], n, theirs[i]] for (c, i), n in hubs]),
    ]


def _misses(result: LiftResult, limit: int = 20) -> list[str]:
    """The first `limit` queries the last pass (adapted, else warm) does not answer at top-1, with
    each pass's top hit as id and first line."""
    if result.kind == "verbatim":
        stages, answer = ["cold", "warm"], "pick"
        rows = [r for r in result.rows if r["discovery"] and not r["pick_top1_warm"]]
        head = f"Discoveries not lifted ({len(rows)}):"
    else:
        stages, answer = _stages(result), "expected"
        rows = [r for r in result.rows if r[f"{stages[-1]}_rank"] != 1]
        head = f"Test queries not at top-1 {stages[-1]} ({len(rows)}):"
    if not rows:
        return []
    columns = ["line", "query", answer, *(f"{s} top-1" for s in stages)]
    body = [
        [r["line"], r["query"], r["pick"]["id"] if answer == "pick" else _expected(r)]
        + [_top(r.get(f"{s}_top1")) for s in stages]
        for r in rows[:limit]
    ]
    return ["", head, "", *_table(columns, body)]


def _stages(result: LiftResult) -> list[str]:
    """The passes the run made; the last one is what its tables are about."""
    return ["cold", "warm", "adapted"] if _adapted(result) else ["cold", "warm"]


def _top(hit: dict[str, Any] | None) -> str:
    return _named(hit["id"], hit.get("title")) if hit else ""


def _expected(row: dict[str, Any]) -> str:
    titles = row.get("expected_titles") or [None] * len(row["expected"])
    return ", ".join(_named(i, t) for i, t in zip(row["expected"], titles, strict=True))


def _named(row_id: str, title: str | None) -> str:
    return f"{row_id} {title}" if title else row_id


def _table(columns: list[str], rows: list[list[Any]]) -> list[str]:
    """A Markdown table's lines; a '|' or a line break in a cell (a query, an id, a row's text)
    would end the cell, so each is escaped and folded here."""

    def line(cells: list[Any]) -> str:
        return "| " + " | ".join(" ".join(str(c).split()).replace("|", "\\|") for c in cells) + " |"

    return [line(columns), "|" + "---|" * len(columns), *(line(r) for r in rows)]


def write_chart(result: LiftResult, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a display
    import matplotlib.pyplot as plt

    pairs = cold_warm_pairs(result)
    names = [name for name, *_ in pairs]
    series = [
        ("cold (playbooks off)", "#9aa5b1", [c or 0.0 for _, c, _, _ in pairs]),
        ("warm (playbooks on)", "#2f7ed8", [w or 0.0 for _, _, w, _ in pairs]),
    ]
    if _adapted(result):
        series.append(("adapted (warm + adapter)", "#f28f43", [a or 0.0 for *_, a in pairs]))
    positions = range(len(pairs))
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    width = 0.76 / len(series)
    for number, (label, color, values) in enumerate(series):
        offset = (number - (len(series) - 1) / 2) * width
        bars = ax.bar([p + offset for p in positions], values, width, label=label, color=color)
        ax.bar_label(bars, fmt="%.2f", padding=2, fontsize=8)
    ax.set_xticks(list(positions), names)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("fraction of queries")
    ax.set_title(
        f"{TITLES[result.kind]} ({result.report.get('queries', result.report.get('test_queries'))} queries)",
        fontsize=10,
    )
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def check_out_dir(out_dir: Path | str) -> Path:
    """`out_dir` if the reports can be written there (made at the end, when missing), else
    LiftOutDirError saying why; nothing is made, so a run refused later leaves no directory."""
    out = Path(os.path.abspath(out_dir))
    if out.exists() and not out.is_dir():
        raise LiftOutDirError(str(out_dir), "is a file, not a directory; name a directory (the reports go inside it)")
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir():
        raise LiftOutDirError(str(out_dir), f"cannot be made: {str(existing)!r} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise LiftOutDirError(str(out_dir), f"cannot be written: {str(existing)!r} is not writable")
    return out


def prepare_out_dir(out_dir: Path | str) -> Path:
    """`out_dir`, checked, then made if missing."""
    out = check_out_dir(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LiftOutDirError(str(out_dir), f"cannot be made ({exc.strerror or exc})") from exc
    return out


def write_reports(result: LiftResult, out_dir: Path | str, stem: str = "lift") -> dict[str, str]:
    """`<stem>-report.json` (the report dict), `<stem>-queries.jsonl`, `<stem>-report.md`,
    `<stem>-chart.png` under `out_dir`; returns their paths."""
    out = prepare_out_dir(out_dir)
    paths = {
        "json": out / f"{stem}-report.json",
        "queries": out / f"{stem}-queries.jsonl",
        "markdown": out / f"{stem}-report.md",
        "chart": out / f"{stem}-chart.png",
    }
    tmp = paths["json"].with_name(f".{paths['json'].name}.tmp")
    tmp.write_text(
        json.dumps({"kind": result.kind, "report": result.report, "meta": result.meta}, indent=2, ensure_ascii=False)
        + "\n"
    )
    tmp.replace(paths["json"])
    write_json_lines_atomic(paths["queries"], result.rows)
    write_chart(result, paths["chart"])
    paths["markdown"].write_text(markdown(result, paths["chart"]))
    return {key: str(path) for key, path in paths.items()}
