"""The history's retention: what runs, requests and scheduled jobs leave in a home is dropped once
it is older than `history_kept_days` (90 by default, Prefect's own default for flow runs; the
Prefect server `lakehouse` starts deletes its flow runs after the same time). `lakehouse gc` and
the nightly `tables-gc` deployment apply it:

- ops in the op log that ended before the cutoff (the log is rewritten without them), and with
  shared state on the shared op table's rows that started before it;
- run records `_runs/<run_id>/` whose newest object is older than the cutoff and that no process
  on this host is running (a run killed that long ago can no longer be resumed);
- records of runs submitted over HTTP (`_runs/submissions/`) older than the cutoff;
- stored node outputs (`_runs/outputs/`) that no kept run's node record names, older than the
  table gc window (a run stores its output before the node record that names it);
- the report files of lift runs, drift checks and adapt jobs (lift/, drift/, adapt/ under LH_HOME)
  older than the cutoff.

Without it a home that runs nightly jobs grew without end: 200 three-node runs took one from 4.9 MB
to 32 MB, and every read of the op log (`ops stats`, the console) got slower with it.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flows import run_lock
from flows.outputs import PREFIX, NodeRecord
from lakehouse.data.errors import ObjectNotFound
from lakehouse.data.storage.base import ObjectStat
from lakehouse.errors import LakehouseError
from lakehouse.observe.retention import forget_shared_ops_before

if TYPE_CHECKING:
    from lakehouse.core import Lakehouse

REPORT_DIRS = ("lift", "drift", "adapt")  # under LH_HOME: what the lift, drift-nightly and adapt-weekly jobs write


@dataclass
class HistoryTrim:
    cutoff: str  # ISO time: what ended or was written before it is dropped
    dry_run: bool
    ops: int = 0
    op_log_bytes: int = 0  # how much shorter the op log is
    shared_ops: int = 0  # rows of the shared op table (shared state on)
    runs: int = 0
    submissions: int = 0
    outputs: int = 0
    reports: int = 0
    bytes: int = 0  # run records, submissions, outputs and reports removed
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        verb = "would drop" if self.dry_run else "dropped"
        return (
            f"history before {self.cutoff[:10]}: {verb} {self.ops} op(s) ({self.op_log_bytes} bytes of the op "
            f"log{self._shared()}), {self.runs} run record(s), {self.submissions} submission(s), {self.outputs} stored "
            f"output(s) and {self.reports} report file(s) ({self.bytes} bytes)"
        )

    def _shared(self) -> str:
        return f"; {self.shared_ops} row(s) of the shared op table" if self.shared_ops else ""


def trim_history(
    lh: Lakehouse, keep_s: float | None = None, *, outputs_window_s: float | None = None, dry_run: bool = False
) -> HistoryTrim:
    """Drop what is older than `keep_s` seconds (default: the setting history_kept_days; see the
    module's docstring), and outputs no kept run names once older than `outputs_window_s` (default:
    gc's window, table_gc_older_than_s). One part that fails (an unreachable store) is reported in
    `errors` and the others go on."""
    settings = lh.settings
    keep_s = settings.history_kept_days * 86400 if keep_s is None else keep_s
    outputs_window_s = settings.table_gc_older_than_s if outputs_window_s is None else outputs_window_s
    now = datetime.now(UTC)
    cutoff = now - timedelta(seconds=keep_s)
    report = HistoryTrim(cutoff=cutoff.isoformat(timespec="seconds"), dry_run=dry_run)
    try:
        trimmed = lh.observer.forget_before(cutoff, dry_run=dry_run)
        report.ops, report.op_log_bytes = trimmed.dropped, trimmed.bytes_before - trimmed.bytes_after
    except OSError as exc:
        report.errors.append(f"op log {lh.observer.path}: {exc}")
    if lh.observer.shared is not None:
        try:
            report.shared_ops = forget_shared_ops_before(lh.observer.shared, cutoff, dry_run=dry_run)
        except LakehouseError as exc:  # the catalog or the warehouse cannot be reached
            report.errors.append(f"shared op table {lh.observer.shared.table}: {exc}")
    try:
        _trim_runs(lh, cutoff, now - timedelta(seconds=outputs_window_s), report)
    except Exception as exc:  # noqa: BLE001 - an unreachable store must not stop the reports' trim
        report.errors.append(f"run records in {lh.settings.objects}: {type(exc).__name__}: {exc}")
    for name in REPORT_DIRS:
        _trim_reports(lh.settings.home_dir / name, cutoff, report)
    return report


def _trim_runs(lh: Lakehouse, cutoff: datetime, outputs_cutoff: datetime, report: HistoryTrim) -> None:
    store, home = lh.store, lh.settings.home_dir
    by_run: dict[str, list[str]] = {}
    outputs: list[str] = []
    for key in store.list(f"{PREFIX}/"):
        part = key.split("/")
        if len(part) < 3:
            continue
        if part[1] == "outputs":
            outputs.append(key)
        elif part[1] == "submissions":
            _remove_if_older(store, key, cutoff, report, "submissions")
        else:
            by_run.setdefault(part[1], []).append(key)
    named: set[str] = set()  # outputs that the kept runs' node records name
    for run_id, keys in by_run.items():
        stats = [stat for key in keys if (stat := _stat(store, key)) is not None]
        if not stats:
            continue  # removed meanwhile (another gc)
        if max(s.modified for s in stats) < cutoff and not run_lock.is_running(home, run_id):
            report.runs += 1
            report.bytes += sum(s.size for s in stats)
            if not report.dry_run:  # the manifest first: a half-removed run must not look resumable
                for key in sorted(keys, key=lambda k: not k.endswith("/manifest.json")):
                    with contextlib.suppress(ObjectNotFound):
                        store.delete(key)
            continue
        for key in keys:
            if "/nodes/" in key:
                with contextlib.suppress(ValueError, ObjectNotFound):
                    named.add(NodeRecord.model_validate_json(store.get(key)).output_sha256 or "")
    for key in outputs:
        if key.rsplit("/", 1)[-1].removesuffix(".json") not in named:
            _remove_if_older(store, key, outputs_cutoff, report, "outputs")


def _stat(store: Any, key: str) -> ObjectStat | None:
    try:
        return store.stat(key)
    except ObjectNotFound:
        return None


def _remove_if_older(store: Any, key: str, cutoff: datetime, report: HistoryTrim, kind: str) -> None:
    """Count (and remove) one object older than `cutoff`; one another gc removed first is not counted."""
    stat = _stat(store, key)
    if stat is None or stat.modified >= cutoff:
        return
    if not report.dry_run:
        try:
            store.delete(key)
        except ObjectNotFound:
            return
    setattr(report, kind, getattr(report, kind) + 1)
    report.bytes += stat.size


def _trim_reports(folder: Path, cutoff: datetime, report: HistoryTrim) -> None:
    """Report files older than the cutoff; a lift run's folder goes whole once all of it is."""
    if not folder.is_dir():
        return
    limit = cutoff.timestamp()
    for entry in sorted(folder.iterdir()):
        try:
            files = [entry] if entry.is_file() else [p for p in entry.rglob("*") if p.is_file()]
            stats = [p.stat() for p in files]
            if not stats or max(s.st_mtime for s in stats) >= limit:
                continue
            if not report.dry_run:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            report.reports += len(files)
            report.bytes += sum(s.st_size for s in stats)
        except FileNotFoundError:
            continue  # removed meanwhile (another gc)
        except OSError as exc:
            report.errors.append(f"report {entry}: {exc}")
