"""Built-in scheduled jobs as deployable Prefect flows, and the deployments that run them.

- `playbook_lift_flow`: the playbook-lift quality test (`lakehouse.learning.lift.harness`); the report is attached
  to the flow run as a Markdown artifact (with the PNG chart's path) and a table artifact.
- `drift_nightly_flow`: every drift check (`modes/catalog/drift_nightly.py`), one task per check, and a
  report artifact; a broken check ends the run Failed (the artifact is still written).
- `tables_gc_flow`: the `tables.gc` mode (warehouse files no table references, older than a
  window); summary artifact.

All are module-level flows (a flow built by a factory cannot be deployed) and return the report
dict. `DEPLOYMENTS` is the one description of the deployments: `prefect.yaml` mirrors it
(a test keeps them equal) and `lakehouse serve` builds them with `flow.to_deployment`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.states import Failed, State
from pydantic import BaseModel, ConfigDict, Field

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


def _context(node_id: str, workflow: str) -> ModeContext:
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
    ctx = _context("ensure-corpus", "playbook-lift")
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
    return invoke_mode("lift.run", payload, _context("lift", "playbook-lift"))


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
) -> dict[str, Any]:
    """Playbook-lift test: verbatim replay (`queries`) or paraphrase pass (`train` + `test`)."""
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

    return run_check(planned, _context(f"drift-{planned.check}", "drift-nightly"))


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
    ctx = _context("drift-plan", "drift-nightly")
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


# table garbage collection --------------------------------------------------------------------
@task(name="tables-gc", cache_policy=NO_CACHE, persist_result=False)
def tables_gc_task(payload: dict[str, Any]) -> dict[str, Any]:
    return invoke_mode("tables.gc", payload, _context("tables-gc", "tables-gc"))


@flow(name="tables-gc", persist_result=False, log_prints=False)
def tables_gc_flow(older_than: str = "1h", dry_run: bool = False) -> dict[str, Any] | State:
    """Remove warehouse files no table references (crashed or lost writes) older than `older_than`;
    the summary is attached as a Markdown artifact."""
    out = tables_gc_task({"older_than": older_than, "dry_run": dry_run})
    lines = ["# Table garbage collection", "", out["summary"], ""]
    lines += [f"- `{f['path']}` ({f['bytes']} bytes)" for f in out["removed"][:100]]
    lines += [f"- error: {e}" for e in out["errors"]]
    create_markdown_artifact("\n".join(lines) + "\n", key="tables-gc", description=out["summary"])
    if out["errors"]:
        return Failed(message=f"tables-gc: {len(out['errors'])} error(s): {out['errors'][0]}", data=out)
    return out


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
        "tables-gc",
        "flows/jobs.py:tables_gc_flow",
        "Remove table files no snapshot references, older than 1 hour, every night.",
        cron="30 4 * * *",
    ),
)
