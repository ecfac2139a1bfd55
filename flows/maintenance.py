"""The nightly upkeep of a home as a deployable Prefect flow (`tables-gc` in `flows.jobs.DEPLOYMENTS`):
the `tables.gc` mode (warehouse files no table references, older than a window), then the
history's retention (`flows.retention`: ops, run records and reports older than
`history_kept_days`). Both reports go into one Markdown artifact."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed, State

from flows.jobs import job_context
from flows.missed_slots import skip_if_a_later_slot_covers
from flows.retention import trim_history
from lakehouse.data.table_gc import parse_duration
from modes.invoke import invoke_mode


@task(name="tables-gc", cache_policy=NO_CACHE, persist_result=False)
def tables_gc_task(payload: dict[str, Any]) -> dict[str, Any]:
    return invoke_mode("tables.gc", payload, job_context("tables-gc", "tables-gc"))


@task(name="history-trim", cache_policy=NO_CACHE, persist_result=False)
def history_trim_task(older_than: str, dry_run: bool) -> dict[str, Any]:
    lh = job_context("history-trim", "tables-gc").lakehouse
    report = trim_history(lh, outputs_window_s=parse_duration(older_than), dry_run=dry_run)
    return asdict(report) | {"summary": report.summary()}


@flow(name="tables-gc", persist_result=False, log_prints=False)
def tables_gc_flow(older_than: str = "1h", dry_run: bool = False) -> dict[str, Any] | State:
    """Remove warehouse files no table references (crashed or lost writes) older than `older_than`,
    then the history older than the setting history_kept_days; the summaries are attached as a
    Markdown artifact."""
    if (skipped := skip_if_a_later_slot_covers()) is not None:
        return skipped
    out = tables_gc_task({"older_than": older_than, "dry_run": dry_run})
    out["history"] = history_trim_task(older_than, dry_run)
    out["errors"] += out["history"]["errors"]
    lines = ["# Table garbage collection", "", out["summary"], "", out["history"]["summary"], ""]
    lines += [f"- `{f['path']}` ({f['bytes']} bytes)" for f in out["removed"][:100]]
    lines += [f"- error: {e}" for e in out["errors"]]
    create_markdown_artifact("\n".join(lines) + "\n", key="tables-gc", description=out["summary"])
    if out["errors"]:
        return Failed(message=f"tables-gc: {len(out['errors'])} error(s): {out['errors'][0]}", data=out)
    return out
