"""Built-in scheduled jobs as deployable Prefect flows, and the deployments that run them.

- `playbook_lift_flow`: the playbook-lift quality test (`lakehouse.learning.lift.harness`); the report is attached
  to the flow run as a Markdown artifact (with the PNG chart's path) and a table artifact.
- `drift_nightly_flow`: every drift check (`modes/catalog/drift_nightly.py`), one task per check, and a
  report artifact; a broken check ends the run Failed (the artifact is still written).
- `adapt_weekly_flow`: `lakehouse adapt` + gate (`corpus.adapt`) for every corpus with positive
  playbook entries recorded since its last adapter was trained; a Markdown report and a PNG chart
  of current vs adapted recall per corpus, attached as artifacts.
- `tables_gc_flow` (flows/maintenance.py): the `tables.gc` mode and the history's retention.

All are module-level flows (a flow built by a factory cannot be deployed) and return the report
dict. `DEPLOYMENTS` is the one description of the deployments: `prefect.yaml` mirrors it
(a test keeps them equal) and `lakehouse serve` builds them with `flow.to_deployment`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.states import Failed, State
from pydantic import BaseModel, ConfigDict, Field

from flows.missed_slots import skip_if_a_later_slot_covers
from flows.runner import current_lakehouse
from modes.context import ModeContext
from modes.invoke import invoke_mode

if TYPE_CHECKING:
    from modes.catalog.drift_nightly import CheckResult, PlannedCheck

REPO = Path(__file__).resolve().parents[1]
WORK_POOL = "lakehouse-pool"


def resolve_path(path: str | None) -> str | None:
    """A relative path is relative to the working directory, or else to the repository (where
    the shipped `examples/` live), so deployment parameters work from any worker directory."""
    if path is None:
        return None
    candidate = Path(path).expanduser()
    if candidate.exists():
        return str(candidate.resolve())
    shipped = REPO / candidate
    return str(shipped) if not candidate.is_absolute() and shipped.exists() else str(candidate)


class CorpusSource(BaseModel):
    """Where a corpus comes from, so a job on a fresh machine can build it before using it."""

    model_config = ConfigDict(extra="forbid")
    corpus: str
    path: str = Field(description="the source file (CSV, TSV, JSONL, Parquet)")
    table: str
    text_cols: list[str] = Field(min_length=1)
    id_col: str
    metadata_cols: list[str] = Field(default_factory=list)
    format: str | None = None


def job_context(node_id: str, workflow: str) -> ModeContext:
    return ModeContext(
        lakehouse=current_lakehouse(),
        workflow=workflow,
        run_id=str(flow_run.id or ""),
        node_id=node_id,
        source="workflow",
        trusted_paths=True,
    )  # operator-defined jobs


def _artifact_key(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower())[:100]


# playbook lift -------------------------------------------------------------------------------
@task(name="ensure-corpus", cache_policy=NO_CACHE, persist_result=False)
def ensure_corpus(source: CorpusSource) -> dict[str, Any]:
    """Ingest the source (a no-op when already ingested) and build the corpus if it is missing."""
    ctx = job_context("ensure-corpus", "playbook-lift")
    if ctx.lakehouse.corpora.exists(source.corpus):
        return {"corpus": source.corpus, "status": "exists"}
    ingest = {"path": resolve_path(source.path), "table": source.table, "format": source.format}
    invoke_mode("ingest", ingest, ctx)
    build = {
        "name": source.corpus,
        "table": source.table,
        "text_cols": source.text_cols,
        "id_col": source.id_col,
        "metadata_cols": source.metadata_cols,
    }
    return invoke_mode("corpus.build", build, ctx)


@task(name="lift", cache_policy=NO_CACHE, persist_result=False)
def lift_task(payload: dict[str, Any]) -> dict[str, Any]:
    return invoke_mode("lift.run", payload, job_context("lift", "playbook-lift"))


def attach_lift_artifacts(out: dict[str, Any]) -> None:
    from lakehouse.learning.lift.report import TITLES

    markdown = Path(out["paths"]["markdown"]).read_text()
    create_markdown_artifact(
        markdown,
        key=_artifact_key(f"playbook-lift-{out['kind']}"),
        description=f"{TITLES[out['kind']]}; chart: {out['paths']['chart']}",
    )
    rows = [{"metric": key, "value": value} for key, value in out["report"].items()]
    rows.append({"metric": "chart_png", "value": out["paths"]["chart"]})
    create_table_artifact(
        rows, key=_artifact_key(f"playbook-lift-{out['kind']}-metrics"), description="Playbook-lift report"
    )


@flow(name="playbook-lift", persist_result=False, log_prints=False)
def playbook_lift_flow(
    corpora: list[str],
    queries: str | None = None,
    train: str | None = None,
    test: str | None = None,
    judge: str = "labels",
    top_k: int | None = None,
    out_dir: str | None = None,
    source: CorpusSource | None = None,
) -> dict[str, Any] | State:
    """Playbook-lift test: verbatim replay (`queries`) or paraphrase pass (`train` + `test`)."""
    if (skipped := skip_if_a_later_slot_covers()) is not None:
        return skipped
    if source is not None:
        ensure_corpus(source)
    payload = {
        "corpora": corpora,
        "queries_path": resolve_path(queries),
        "train_path": resolve_path(train),
        "test_path": resolve_path(test),
        "judge": judge,
        "top_k": top_k,
        "out_dir": out_dir,
    }
    out = lift_task({k: v for k, v in payload.items() if v is not None})
    attach_lift_artifacts(out)
    return out["report"]


# nightly drift -------------------------------------------------------------------------------
@task(name="drift-check", cache_policy=NO_CACHE, persist_result=False)
def drift_check(planned: PlannedCheck) -> CheckResult:
    from modes.catalog.drift_nightly import run_check

    return run_check(planned, job_context(f"drift-{planned.check}", "drift-nightly"))


def drift_markdown(report, saved: Path) -> str:
    lines = [
        "# Nightly drift checks",
        "",
        f"{report.drifted} drifted, {report.skipped} skipped, {report.failed} failed; JSON: `{saved}`",
        "",
        "| check | target | status | drifted | summary |",
        "|---|---|---|---|---|",
    ]
    for r in report.checks:
        drifted = "" if r.drifted is None else ("**yes**" if r.drifted else "no")
        lines.append(f"| {r.check} | {r.target} | {r.status} | {drifted} | {r.summary} |")
    return "\n".join(lines) + "\n"


@flow(name="drift-nightly", persist_result=False, log_prints=False)
def drift_nightly_flow(
    evidence_path: str | None = None,
    old_scorer: str | None = None,
    new_scorer: str | None = None,
    corpora: list[str] | None = None,
    top_k: int = 10,
):
    """Scorer drift on the evidence history, playbook drift per corpus, embedding drift between
    the two newest snapshots of each corpus table; a report artifact either way."""
    if (skipped := skip_if_a_later_slot_covers()) is not None:
        return skipped
    from modes.catalog.drift_nightly import (
        CheckResult,
        NightlyIn,
        assemble,
        failure_message,
        plan_checks,
    )

    inp = NightlyIn(
        evidence_path=evidence_path, old_scorer=old_scorer, new_scorer=new_scorer, corpora=corpora, top_k=top_k
    )
    ctx = job_context("drift-plan", "drift-nightly")
    plan = plan_checks(inp, ctx)
    report = assemble(
        [
            p if isinstance(p, CheckResult) else drift_check.with_options(task_run_name=f"{p.check}-{p.target}")(p)
            for p in plan
        ]
    )
    data = report.model_dump(mode="json")
    out_dir = ctx.lakehouse.settings.home_dir / "drift"
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = out_dir / f"nightly-{flow_run.id or 'local'}.json"
    saved.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    create_markdown_artifact(drift_markdown(report, saved), key="drift-nightly", description="Nightly drift checks")
    create_table_artifact(
        [{k: r[k] for k in ("check", "target", "status", "drifted", "summary")} for r in data["checks"]],
        key="drift-nightly-checks",
        description="Nightly drift checks",
    )
    if report.failed:
        return Failed(message=failure_message(report), data=data)
    return data


# weekly adaptation ---------------------------------------------------------------------------
def _parse_ts(value: Any):
    from datetime import UTC, datetime

    try:
        ts = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def plan_adaptations(lakehouse, corpora: list[str] | None = None) -> list[dict[str, Any]]:
    """For each corpus: adapt it when entries were recorded since the newest adapter trained on it
    (live or staged; none yet: any positive entry), else say why not."""
    from lakehouse.learning.adapt import entries_seen

    entries = lakehouse.playbooks.entries()
    plan = []
    for name in corpora or lakehouse.corpora.names():
        if not lakehouse.corpora.exists(name):
            plan.append({"corpus": name, "action": "skip", "why": f"no corpus {name!r}"})
            continue
        adapted = [g for g in lakehouse.corpora.generations(name) if g.get("adapter")]
        seen = adapted[0]["adapter"].get("entries_seen") if adapted else None  # newest first
        if isinstance(seen, dict):  # which entries the newest adapter saw: any other one is new
            now = entries_seen(entries, name)
            generation = adapted[0]["generation"]
            if now == seen:
                why = f"no entries recorded since generation {generation} was trained ({now['count']} entries)"
                plan.append({"corpus": name, "action": "skip", "why": why})
            else:
                why = f"{now['count']} entries, {seen.get('count')} when generation {generation} was trained"
                plan.append({"corpus": name, "action": "adapt", "why": why})
            continue
        trained = [  # an adapter of before `entries_seen`: the judgement times tell
            ts for g in adapted if (ts := _parse_ts(g["adapter"].get("trained_until"))) is not None
        ]
        since = max(trained, default=None)
        fresh = [e for e in entries if e.corpus == name and e.score > 0 and (since is None or e.ts > since)]
        if fresh:
            what = f"{len(fresh)} positive entries" + (f" since {since.isoformat()}" if since else "")
            plan.append({"corpus": name, "action": "adapt", "why": what})
        else:
            why = f"no positive entries since {since.isoformat()}" if since else "no positive entries recorded"
            plan.append({"corpus": name, "action": "skip", "why": why})
    return plan


@task(name="adapt-corpus", cache_policy=NO_CACHE, persist_result=False)
def adapt_task(payload: dict[str, Any]) -> dict[str, Any]:
    return invoke_mode("corpus.adapt", payload, job_context(f"adapt-{payload['corpus']}", "adapt-weekly"))


def _reranker_verdict(rerank: dict[str, Any]) -> str | None:
    """What the adapt report says of the reranker trained beside the adapter, in a table cell."""
    if not rerank:
        return None
    return "kept" if rerank.get("kept") else f"not kept: {rerank.get('why')}"


def adapt_markdown(rows: list[dict[str, Any]], chart: Path | None, saved: Path) -> str:
    def fmt(value: Any) -> str:
        return "" if value is None else f"{value:.3f}"

    count = Counter(r["status"] for r in rows)
    statuses = ("promoted", "passed", "refused", "skipped", "failed")
    headline = ", ".join(f"{count[s]} {s}" for s in statuses if count[s] or s != "passed")
    if count["passed"]:  # passed the gate with promote off: staged, and no later run promotes it
        headline += " (passed: staged, not live; `lakehouse corpus promote CORPUS GENERATION` makes one live)"
    lines = [
        "# Weekly adaptation",
        "",
        f"{headline}; JSON: `{saved}`" if rows else f"No corpus to adapt (none built yet); JSON: `{saved}`",
        "",
        "| corpus | status | current r@1 | adapted r@1 | current r@10 | adapted r@10 | generation | vote weight "
        "| reranker | why |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['corpus']} | {r['status']} | {fmt(r.get('current_r1'))} | {fmt(r.get('adapted_r1'))} | "
            f"{fmt(r.get('current_r10'))} | {fmt(r.get('adapted_r10'))} | {r.get('generation') or ''} | "
            f"{r.get('vote_weight') or ''} | {r.get('reranker') or ''} | {r['why']} |"
        )
    if chart is not None:
        lines += ["", f"Chart (PNG): `{chart}`"]
    return "\n".join(lines) + "\n"


def adapt_chart(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """Current vs adapted recall@1 and recall@10 per corpus that was adapted."""
    measured = [r for r in rows if r.get("current_r1") is not None]
    if not measured:
        return None
    import matplotlib

    matplotlib.use("Agg")  # files only, never a display
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6.4, 2.2 * len(measured)), 3.6), dpi=100)
    series = (
        ("current r@1", "current_r1", "#9aa5b1"),
        ("adapted r@1", "adapted_r1", "#2f7ed8"),
        ("current r@10", "current_r10", "#c9ced4"),
        ("adapted r@10", "adapted_r10", "#f28f43"),
    )
    width = 0.2
    for number, (label, key, color) in enumerate(series):
        offset = (number - 1.5) * width
        bars = ax.bar(
            [i + offset for i in range(len(measured))], [r[key] for r in measured], width, label=label, color=color
        )
        ax.bar_label(bars, fmt="%.2f", padding=2, fontsize=7)
    ax.set_xticks(list(range(len(measured))), [r["corpus"] for r in measured])
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("held-back recall")
    ax.set_title("Weekly adaptation: current vs adapted (held-back matches)", fontsize=10)
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


@flow(name="adapt-weekly", persist_result=False, log_prints=False)
def adapt_weekly_flow(
    corpora: list[str] | None = None, holdout: float = 0.2, seed: int = 0, promote: bool = True
) -> dict[str, Any] | State:
    """`lakehouse adapt` + gate for each corpus (all, or `corpora`) with positive playbook entries
    recorded since its last adapter was trained; a report artifact (Markdown + PNG chart) either way."""
    if (skipped := skip_if_a_later_slot_covers()) is not None:
        return skipped
    from pydantic import ValidationError

    from lakehouse.common.validation import format_validation_error
    from lakehouse.errors import LakehouseError
    from lakehouse.learning.errors import AdaptError
    from modes.catalog.adapt import AdaptIn

    try:  # a bad parameter is said before any corpus, not as the first corpus's crash
        AdaptIn.model_validate({"corpus": "*", "holdout": holdout, "seed": seed, "promote": promote})
    except ValidationError as exc:
        raise AdaptError(f"adapt-weekly parameters: {format_validation_error(exc)}") from None
    ctx = job_context("adapt-plan", "adapt-weekly")
    rows: list[dict[str, Any]] = []
    for planned in plan_adaptations(ctx.lakehouse, corpora):
        row: dict[str, Any] = {"corpus": planned["corpus"], "status": "skipped", "why": planned["why"]}
        if planned["action"] == "adapt":
            payload = {"corpus": planned["corpus"], "holdout": holdout, "seed": seed, "promote": promote}
            try:
                out = adapt_task.with_options(task_run_name=f"adapt-{planned['corpus']}")(payload)
            except AdaptError as exc:
                row["why"] = str(exc)
            except LakehouseError as exc:
                row.update(status="failed", why=str(exc))
            except Exception as exc:  # noqa: BLE001 (one corpus's failure must not cost the others their run and the report)
                row.update(status="failed", why=f"{type(exc).__name__}: {exc}")
            else:
                row.update(
                    status="promoted" if out["promoted"] else "refused" if not out["passed"] else "passed",
                    why=out["decision"],
                    generation=out["generation"],
                    current_r1=out["current"]["recall_at_1"],
                    adapted_r1=out["adapted"]["recall_at_1"],
                    current_r10=out["current"]["recall_at_10"],
                    adapted_r10=out["adapted"]["recall_at_10"],
                    pairs=out["pairs"],
                    cpu_s=out["train"].get("cpu_s"),
                    vote_weight=out["train"].get("vote_weight"),
                    reranker=_reranker_verdict(out["train"].get("rerank") or {}),
                )
        rows.append(row)
    out_dir = ctx.lakehouse.settings.home_dir / "adapt"
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"weekly-{flow_run.id or 'local'}"
    saved = out_dir / f"{stem}.json"
    data = {"corpora": rows}
    saved.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    chart = adapt_chart(rows, out_dir / f"{stem}.png")
    markdown = adapt_markdown(rows, chart, saved)
    (out_dir / f"{stem}.md").write_text(markdown)
    create_markdown_artifact(markdown, key="adapt-weekly", description="Weekly adaptation behind the lift gate")
    columns = ("corpus", "status", "current_r1", "adapted_r1", "generation", "vote_weight", "reranker", "why")
    create_table_artifact(
        [{k: r.get(k) for k in columns} for r in rows],
        key="adapt-weekly-corpora",
        description="Weekly adaptation",
    )
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:
        return Failed(message=f"adapt-weekly: {len(failed)} corpus(es) failed: {failed[0]['why']}", data=data)
    return data


# deployments ---------------------------------------------------------------------------------
ONET_SOURCE = {
    "corpus": "onet",
    "path": "examples/data/occupations.tsv",
    "table": "onet_occupations",
    "text_cols": ["Title", "Description"],
    "id_col": "O*NET-SOC Code",
    "metadata_cols": ["Title"],
    "format": "tsv",
}


@dataclass(frozen=True)
class DeploymentSpec:
    name: str
    entrypoint: str  # path:function, relative to the repository
    description: str
    cron: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ("lakehouse",)

    def load_flow(self):
        import importlib

        path, attr = self.entrypoint.split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        return getattr(module, attr)


DEPLOYMENTS: tuple[DeploymentSpec, ...] = (
    DeploymentSpec(
        "drift-nightly",
        "flows/jobs.py:drift_nightly_flow",
        "All drift checks every night; report artifact.",
        cron="0 2 * * *",
    ),
    DeploymentSpec(
        "playbook-lift-weekly",
        "flows/jobs.py:playbook_lift_flow",
        "Playbook-lift test on the O*NET development set every Monday.",
        cron="0 3 * * 1",
        parameters={
            "corpora": ["onet"],
            "queries": "examples/lift/onet_dev.jsonl",
            "judge": "labels",
            "source": ONET_SOURCE,
        },
    ),
    DeploymentSpec(
        "run-workflow",
        "flows/runner.py:run_workflow_flow",
        "Run a YAML workflow by name with inputs (trigger it with parameters).",
        parameters={"workflow": "hello-lakehouse", "inputs": {}},
    ),
    DeploymentSpec(
        "adapt-weekly",
        "flows/jobs.py:adapt_weekly_flow",
        "Adapt each corpus with new ratings behind the lift gate every Sunday; report artifact.",
        cron="0 5 * * 0",
    ),
    DeploymentSpec(
        "tables-gc",
        "flows/maintenance.py:tables_gc_flow",
        "Remove table files no snapshot references, older than 1 hour, and the history older than "
        "history_kept_days (90 days), every night.",
        cron="30 4 * * *",
    ),
)
