"""`drift.nightly`: every drift check the lakehouse can run today, in one report.

- scorer drift: the evidence history (`drift_evidence`, under LH_HOME) re-scored with the
  previous and the current scorer version, when the file exists;
- playbook drift: for every corpus with recorded playbooks, are their answers still in today's
  top k;
- embedding drift: for every corpus whose table has at least two snapshots, the two newest.

Each check runs through `invoke_mode` (one audit row each). A check that cannot run is reported
as skipped with the reason; a check that breaks is reported as failed, and the mode then fails
too (after the other checks ran), so a broken check is never mistaken for "no drift".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lakehouse.learning.distill import SCORERS
from lakehouse.learning.drift import shared_evidence
from modes.context import ModeContext
from modes.errors import NightlyDriftFailed
from modes.invoke import invoke_mode
from modes.registry import mode

CheckName = Literal["scorer", "playbook", "embedding"]


class NightlyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    evidence_path: str | None = Field(
        default=None, description="history to re-score (default: evidence.jsonl under LH_HOME)"
    )
    old_scorer: str | None = Field(default=None, description="default: the version before the new one")
    new_scorer: str | None = Field(default=None, description="default: the current scorer, v2")
    corpora: list[str] | None = Field(default=None, description="limit playbook/embedding checks to these")
    top_k: int = Field(default=10, ge=1, le=1000, description="playbook drift: answers outside today's top k")


class CheckResult(BaseModel):
    check: CheckName
    target: str  # the evidence file or the corpus
    status: Literal["ok", "skipped", "failed"]
    drifted: bool | None = None
    summary: str
    result: dict[str, Any] | None = None


class NightlyReport(BaseModel):
    checks: list[CheckResult]
    drifted: int  # checks that found drift
    skipped: int
    failed: int


@dataclass
class PlannedCheck:
    check: CheckName
    target: str
    mode: str
    payload: dict[str, Any]


def _older_scorer(new: str) -> str | None:
    versions = list(SCORERS)
    return versions[versions.index(new) - 1] if new in versions and versions.index(new) > 0 else None


def _two_newest_snapshots(ctx: ModeContext, corpus: str) -> tuple[int, int] | str:
    """(older, newer) snapshot ids with vectors in both, or why there are none."""
    lh = ctx.lakehouse
    table = lh.corpora.manifest(corpus).corpus_table
    snapshots = sorted(lh.tables.describe(table)["snapshots"], key=lambda s: s["timestamp_ms"])
    usable = [s for s in snapshots if int(s["summary"].get("total-records", 0)) >= 2]
    if len(usable) < 2:
        return f"table {table!r} has {len(usable)} snapshot(s) with at least 2 vectors; 2 are needed"
    return usable[-2]["snapshot_id"], usable[-1]["snapshot_id"]


def plan_checks(inp: NightlyIn, ctx: ModeContext) -> list[PlannedCheck | CheckResult]:
    """What tonight's run will check (PlannedCheck) and what it cannot (skipped CheckResult)."""
    lh, settings = ctx.lakehouse, ctx.lakehouse.settings
    plan: list[PlannedCheck | CheckResult] = []
    evidence = ctx.path(
        inp.evidence_path or settings.drift_evidence, field="evidence_path" if inp.evidence_path else "drift_evidence"
    )
    new = inp.new_scorer or settings.distill_scorer
    old = inp.old_scorer or _older_scorer(new)
    # with shared state on, the history is every machine's flushed evidence, even with no local file yet
    empty = evidence.is_file() and evidence.stat().st_size == 0
    if (empty or not evidence.exists()) and not shared_evidence(settings, evidence):
        why = f"the evidence history at {evidence} is empty" if empty else f"no evidence history at {evidence}"
        plan.append(CheckResult(check="scorer", target=str(evidence), status="skipped", summary=why))
    elif old is None:
        plan.append(
            CheckResult(
                check="scorer",
                target=str(evidence),
                status="skipped",
                summary=f"scorer {new!r} has no older version to compare with",
            )
        )
    else:
        plan.append(
            PlannedCheck(
                "scorer",
                str(evidence),
                "drift.scorer",
                {"history_path": str(evidence), "old_version": old, "new_version": new},
            )
        )
    existing = lh.corpora.names()
    wanted = set(inp.corpora) if inp.corpora is not None else None
    log = settings.playbook_log  # an empty log needs no embedding model loaded to say so
    has_log = log.exists() and log.stat().st_size > 0
    recorded = sorted({p.corpus for p in lh.playbooks.entries() if p.score > 0}) if has_log else []
    for corpus in recorded:
        if wanted is not None and corpus not in wanted:
            continue
        if corpus not in existing:
            plan.append(
                CheckResult(
                    check="playbook",
                    target=corpus,
                    status="skipped",
                    summary=f"playbooks name corpus {corpus!r}, which no longer exists",
                )
            )
            continue
        plan.append(PlannedCheck("playbook", corpus, "drift.playbook", {"corpora": [corpus], "top_k": inp.top_k}))
    if not recorded:
        plan.append(CheckResult(check="playbook", target="*", status="skipped", summary="no playbooks recorded"))
    for corpus in sorted((wanted or set()) - set(existing) - set(recorded)):  # a typo checked nothing
        plan.append(CheckResult(check="embedding", target=corpus, status="skipped", summary=f"no corpus {corpus!r}"))
    for corpus in existing:
        if wanted is not None and corpus not in wanted:
            continue
        pair = _two_newest_snapshots(ctx, corpus)
        if isinstance(pair, str):
            plan.append(CheckResult(check="embedding", target=corpus, status="skipped", summary=pair))
        else:
            plan.append(
                PlannedCheck(
                    "embedding",
                    corpus,
                    "drift.embedding",
                    {"corpus": corpus, "snapshot_a": pair[0], "snapshot_b": pair[1]},
                )
            )
    return plan


def _summary(check: str, out: dict[str, Any]) -> tuple[bool, str]:
    if check == "scorer":
        count = out.get("skipped_count")
        said = f"; {count} unreadable line(s) skipped, the first: {out['skipped'][0]}" if count else ""
        return out["drifted"] > 0, (
            f"{out['drifted']} of {out['total']} records change category ({out['old_version']} -> "
            f"{out['new_version']}){said}"
        )
    if check == "playbook":
        return out["drifted"] > 0, f"{out['drifted']} of {out['checked']} recorded answers left the top {out['top_k']}"
    return bool(out["drifted"]), (
        f"KS statistic {out['statistic']} (p={out['p_value']:.3g}); "
        f"max per-dimension {out['dimension_max_statistic']} (p={out['dimension_p_value']:.3g})"
    )


def run_check(planned: PlannedCheck, ctx: ModeContext) -> CheckResult:
    try:
        out = invoke_mode(planned.mode, planned.payload, ctx)
    except Exception as exc:  # reported in the report, and the run fails after all checks ran
        return CheckResult(
            check=planned.check, target=planned.target, status="failed", summary=f"{type(exc).__name__}: {exc}"
        )
    drifted, summary = _summary(planned.check, out)
    return CheckResult(
        check=planned.check, target=planned.target, status="ok", drifted=drifted, summary=summary, result=out
    )


def assemble(results: list[CheckResult]) -> NightlyReport:
    return NightlyReport(
        checks=results,
        drifted=sum(bool(r.drifted) for r in results),
        skipped=sum(r.status == "skipped" for r in results),
        failed=sum(r.status == "failed" for r in results),
    )


def failure_message(report: NightlyReport) -> str:
    failed = [r for r in report.checks if r.status == "failed"]
    return "; ".join(f"{r.check} drift on {r.target} failed: {r.summary}" for r in failed)


@mode("drift.nightly")
def nightly(inp: NightlyIn, ctx: ModeContext) -> NightlyReport:
    """Run every applicable drift check (scorer, playbook per corpus, embedding per corpus)."""
    plan = plan_checks(inp, ctx)
    report = assemble([p if isinstance(p, CheckResult) else run_check(p, ctx) for p in plan])
    if report.failed:
        raise NightlyDriftFailed(failure_message(report))
    return report
