"""ObservedOps: one audit row per node attempt (or direct mode call, or external event).

Kept twice: a bounded in-memory ring for this process (a full ring evicts the oldest, never
refuses) and the append-only JSONL log (`LH_HOME/ops.jsonl`) that every process shares. A failed
log write is logged and counted; it never fails the run that produced the row. With shared state
on (`shared`), the log is flushed to the lakehouse table `_lh_ops` and readers see every LH_HOME's
flushed ops plus this one's unflushed ones (`lakehouse.data.shared_log`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import threading
import uuid
from array import array
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from lakehouse.common.errors import LogWriteError
from lakehouse.common.jsonl import AppendLog, LogCursor, Trim
from lakehouse.common.machine import machine_problem
from lakehouse.common.secrets import scrub  # noqa: F401 (re-exported: runner, HTTP)

if TYPE_CHECKING:
    from lakehouse.data.shared_log import SharedLog

log = logging.getLogger(__name__)

_SURROGATE = re.compile("[\ud800-\udfff]")

Source = Literal["workflow", "mode", "event", "http", "mcp", "ui"]
Status = Literal["completed", "failed", "skipped"]


def now_utc() -> datetime:
    return datetime.now(UTC)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False, separators=(",", ":"))


def _escape_surrogates(text: str) -> str:
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def text_safe(value: Any) -> Any:
    """`value` with every lone surrogate in its strings (keys too) written as its escape
    (`"\\ud800"`), so it encodes as UTF-8; everything else is unchanged."""
    if isinstance(value, str):
        return _escape_surrogates(value)
    if isinstance(value, dict):
        return {text_safe(k): text_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [text_safe(v) for v in value]
    return value


def summarize(value: Any, cap: int, secrets: Iterable[str] = ()) -> tuple[Any, str | None]:
    """(JSON-safe summary capped at `cap` characters with secrets masked, sha256 of the full
    canonical JSON)."""
    if value is None:
        return None, None
    text = canonical_json(value)
    # surrogatepass: a lone surrogate (from JSON `"\\ud800"`) must not break the digest
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    masked = scrub(text, secrets)
    if masked != text:
        text = masked
        try:
            json.loads(text)
        except ValueError:  # a mask landed inside JSON syntax: keep it as plain text
            return {"redacted": True, "head": text[:cap]}, digest
    if len(text) <= cap:
        return json.loads(text), digest
    return {"truncated": True, "chars": len(text), "head": text[:cap]}, digest


class ObservedOp(BaseModel):
    op_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    ts_start: datetime
    ts_end: datetime
    duration_ms: float
    source: Source
    workflow: str | None = None
    run_id: str | None = None
    node_id: str | None = None
    mode: str | None = None
    attempt: int = 1
    status: Status
    error: str | None = None
    input: Any = None
    output: Any = None
    input_sha256: str | None = None
    output_sha256: str | None = None
    model: str | None = None
    tokens: int | None = None
    parent_run_id: str | None = None  # a resumed run's parent (`workflow resume`)

    @classmethod
    def build(
        cls,
        *,
        ts_start: datetime,
        ts_end: datetime | None = None,
        input: Any = None,
        output: Any = None,
        summary_chars: int = 2000,
        secrets: Iterable[str] = (),
        error: str | None = None,
        **fields: Any,
    ) -> ObservedOp:
        """An op with capped summaries; every value in `secrets` is masked in them and in `error`."""
        ts_end = ts_end or now_utc()
        secrets = list(secrets)
        inp, inp_sha = summarize(input, summary_chars, secrets)
        out, out_sha = summarize(output, summary_chars, secrets)
        return cls(
            error=scrub(error, secrets),
            ts_start=ts_start,
            ts_end=ts_end,
            duration_ms=round((ts_end - ts_start).total_seconds() * 1000, 3),
            input=inp,
            output=out,
            input_sha256=inp_sha,
            output_sha256=out_sha,
            **fields,
        )


@dataclass
class _Tally:
    """What `Observer.stats` reports, counted op by op."""

    cursor: LogCursor | None = None  # how far into the log (for the log's own tally)
    records: int = 0  # well-formed records read, ops or not (to number the others)
    total: int = 0
    by_status: Counter[Any] = field(default_factory=Counter)
    by_mode: Counter[Any] = field(default_factory=Counter)
    by_source: Counter[Any] = field(default_factory=Counter)
    durations: array[float] = field(default_factory=lambda: array("d"))  # of the ops not skipped (8 bytes each)

    def add(self, r: dict[str, Any]) -> None:
        self.total += 1
        self.by_status[r.get("status")] += 1
        self.by_mode[r.get("mode") or "-"] += 1
        self.by_source[r.get("source")] += 1
        if r.get("status") != "skipped":
            self.durations.append(r["duration_ms"])

    def extended(self, later: _Tally) -> _Tally:
        """This tally with `later`'s counts added (what was read after it)."""
        self.records += later.records
        self.total += later.total
        self.by_status.update(later.by_status)
        self.by_mode.update(later.by_mode)
        self.by_source.update(later.by_source)
        self.durations.extend(later.durations)
        return self

    def figures(self) -> dict[str, Any]:
        """The counted part of `Observer.stats`."""
        import numpy as np  # here, not at import: every workflow run records ops, few ask for stats

        durations = np.array(self.durations, dtype=float)
        pct = (lambda q: round(float(np.percentile(durations, q)), 3)) if durations.size else (lambda q: None)
        return {
            "total": self.total,
            "by_status": dict(self.by_status.most_common()),
            "by_mode": dict(self.by_mode.most_common()),
            "by_source": dict(self.by_source.most_common()),
            "duration_ms": {"p50": pct(50), "p95": pct(95)},
        }


class Observer:
    def __init__(self, log_path: Path | str, ring_size: int = 10_000, shared: SharedLog | None = None) -> None:
        self.log = AppendLog(log_path, trimmable=True)  # `forget_before` drops old ops
        self.shared = shared
        self.ring: deque[ObservedOp] = deque(maxlen=max(1, ring_size))
        self.write_failures = 0
        self.last_write_error: dict[str, str] | None = None
        self._machine_warned = False  # a full or read-only disk is said once per process, not per op
        self._lock = threading.Lock()
        self._tally = _Tally()
        self._tally_lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self.log.path

    def record(self, op: ObservedOp) -> ObservedOp:
        """Keep `op` in the ring and append it to the log. A write that fails for any reason is
        counted in `write_failures` and logged (with the op id and an error id), never raised."""
        with self._lock:
            self.ring.append(op)
        try:
            row = op.model_dump(mode="json")
            try:
                self.log.append(row)
            except UnicodeEncodeError:
                # Text that is not valid Unicode (a lone surrogate) cannot be UTF-8: keep the record,
                # with each such character written as its escape (`\\ud800`), rather than lose it.
                self.log.append(text_safe(row))
                log.warning("op %s: invalid Unicode (lone surrogates) escaped in %s", op.op_id, self.path)
        except Exception as exc:  # noqa: BLE001 - a failed write must never fail the run
            error_id = uuid.uuid4().hex[:12]
            with self._lock:
                self.write_failures += 1
                reason = _escape_surrogates(f"{type(exc).__name__}: {exc}")
                self.last_write_error = {"error_id": error_id, "op_id": op.op_id, "error": reason}
            if not _machine_failure(exc):
                log.error("error %s: could not write op %s to %s: %s", error_id, op.op_id, self.path, reason)
            elif not self._machine_warned:
                # a full disk or a read-only home fails every op alike: said once (each is counted), so
                # a read on a read-only backup is not an error line per op
                self._machine_warned = True
                log.error(
                    "error %s: could not write op %s to %s: %s; ops are not recorded while it cannot be written "
                    "(the work itself goes on)",
                    error_id,
                    op.op_id,
                    self.path,
                    reason,
                )
        return op

    def forget_before(self, cutoff: datetime, *, dry_run: bool = False) -> Trim:
        """Drop from the log the ops that ended before `cutoff` (the history's retention); what
        is not an op, or has no readable end time, stays. The ring (this process's newest) stays.
        The shared op table (shared state on) is `lakehouse.observe.retention`'s."""

        def keep(record: dict[str, Any]) -> bool:
            try:
                ended = datetime.fromisoformat(str(record["ts_end"]))
            except (KeyError, ValueError):
                return True
            return not _is_op(record) or (ended if ended.tzinfo else ended.replace(tzinfo=UTC)) >= cutoff

        return self.log.trim(keep, dry_run=dry_run)

    # reading -----------------------------------------------------------------------------
    def ring_ops(self, run_id: str) -> list[dict[str, Any]]:
        """This process's ops of one run, from the ring (no log scan)."""
        with self._lock:
            return [op.model_dump(mode="json") for op in self.ring if op.run_id == run_id]

    def ops(
        self,
        *,
        run_id: str | None = None,
        workflow: str | None = None,
        limit: int | None = None,
        **fields: str | None,
    ) -> list[dict[str, Any]]:
        """Ops from the shared log (all processes), oldest first; `limit` keeps the newest. `fields`
        (source, mode, status...) must equal the op's own; None matches anything."""
        wanted = {key: value for key, value in fields.items() if value is not None}

        def matches(r: dict[str, Any]) -> bool:
            return _in(r, run_id, workflow) and all(r.get(key) == value for key, value in wanted.items())

        if limit and self.shared is None:  # the newest few, read from the log's end
            return self.log.tail(limit, lambda r: _is_op(r) and matches(r))
        rows = [r for r in self._every_op() if matches(r)]
        return rows[-limit:] if limit else rows

    def _every_op(self) -> Iterator[dict[str, Any]]:
        """Every op of the log (or the shared table and this log), oldest first, one at a time."""
        records = self.shared.records() if self.shared is not None else self.log.records()
        for number, r in enumerate(records, start=1):
            if _is_op(r):
                yield r
            else:  # valid JSON of another shape (a hand edit, another tool) failed stats and SQL
                self._not_an_op(number)

    def _not_an_op(self, number: int) -> None:
        problem = f"{self.path}: record {number} is not an op (no op_id, ts_start, ts_end, duration_ms, source, status)"
        with self._lock:
            if problem in self.log.report.repairs:
                return
            self.log.report.repairs.append(problem)
        log.warning("%s: skipped", problem)

    def _log_figures(self) -> dict[str, Any]:
        """The figures of the whole log, its tally brought up to date with what was appended since
        the last call (a page polling the stats of a long log read it whole on every poll). The new
        records are counted as they are read, into a tally of their own: whether they extend the
        old tally or replace it (the file was replaced or cut) is known once they are read."""
        with self._tally_lock:
            since = _Tally()
            not_ops: list[int] = []  # numbered within `since`

            def count(record: dict[str, Any]) -> None:
                since.records += 1
                if _is_op(record):
                    since.add(record)
                else:
                    not_ops.append(since.records)

            cursor, reset = self.log.scan_since(self._tally.cursor, count)
            before = 0 if reset else self._tally.records
            for number in not_ops:
                self._not_an_op(before + number)
            self._tally = since if reset else self._tally.extended(since)
            self._tally.cursor = cursor
            return self._tally.figures()

    def stats(self, rows: Iterable[dict[str, Any]] | None = None) -> dict[str, Any]:
        if rows is None and self.shared is None:
            figures = self._log_figures()
        else:
            tally = _Tally()
            for r in self._every_op() if rows is None else rows:
                tally.add(r)
            figures = tally.figures()
        return {
            **figures,
            "ring": {"size": len(self.ring), "capacity": self.ring.maxlen},
            "write_failures": self.write_failures,
            "last_write_error": self.last_write_error,
            "corrupt_lines": [str(c) for c in self.log.report.corrupt],
            "repairs": list(self.log.report.repairs),
            "incomplete_last_line": self._incomplete_last_line(),
        }

    def _incomplete_last_line(self) -> str | None:
        """The log's last line when it has no newline, said in words (left in place: a reader cannot
        tell a writer cut off from one appending now, and cutting it could lose the latter's record)."""
        size = self.log.unfinished_tail()
        if not size:
            return None
        return f"the last line of {self.path} is incomplete ({size} bytes): a writer was cut off or is writing now"

    def sql(self, query: str, settings: Any = None) -> tuple[list[str], list[tuple]]:
        """Run one read-only SELECT over the log, exposed as the table `ops`, with the limits of the
        tables' SQL (`settings`, default `get_settings()`): time, memory, answer size; a server runs
        it in a SQL worker (`lakehouse.data.sql.workers`)."""
        import pyarrow as pa

        from lakehouse.config import get_settings
        from lakehouse.data.sql import workers
        from lakehouse.data.sql.engine import query_arrow

        settings = settings or get_settings()
        schema = pa.schema([(name, _arrow_type(f.annotation)) for name, f in ObservedOp.model_fields.items()])
        kinds = [(name, _kind(schema.field(name).type)) for name in schema.names]  # once, not per cell
        # Arrow batches of SQL_BATCH_OPS ops: the whole log as Python dicts first took 1.4 GB for a
        # 190 MB log (200,000 ops), several times the table itself
        batches, typed = [], []
        for r in self._every_op():
            for key in ("input", "output"):  # nested JSON stays queryable as text
                if r.get(key) is not None:
                    r[key] = canonical_json(r[key])
            typed.append({name: _as_column(kind, r.get(name)) for name, kind in kinds})
            if len(typed) == SQL_BATCH_OPS:
                batches.append(pa.RecordBatch.from_pylist(typed, schema=schema))
                typed = []
        batches.append(pa.RecordBatch.from_pylist(typed, schema=schema))
        table = pa.Table.from_batches(batches, schema=schema)
        if workers.isolating(settings):
            kwargs = {"table": table, "name": "ops", "sql": query}
            result = workers.workers_for(settings).run("arrow", kwargs, settings.sql_timeout_s)
        else:
            result = query_arrow(table, "ops", query, settings)
        return result.columns, [tuple(row) for row in result.rows]


SQL_BATCH_OPS = 5_000  # ops converted to Arrow at a time by `Observer.sql`

_OP_KEYS: dict[str, type | tuple[type, ...]] = {
    "op_id": str,
    "ts_start": str,
    "ts_end": str,
    "duration_ms": (int, float),
    "source": str,
    "status": str,
}


def _machine_failure(exc: Exception) -> bool:
    """A write the machine refused (a full disk, a read-only file system), not a fault of the op."""
    return isinstance(exc, LogWriteError) or machine_problem(exc) is not None


def _in(record: dict[str, Any], run_id: str | None, workflow: str | None) -> bool:
    """Is the op one of run `run_id` and of workflow `workflow` (None: any)?"""
    return run_id in (None, record.get("run_id")) and workflow in (None, record.get("workflow"))


def _is_op(record: dict[str, Any]) -> bool:
    # a duration of NaN or Infinity (Python's json reads both) made every p50 and p95 NaN
    return all(isinstance(record.get(key), kind) for key, kind in _OP_KEYS.items()) and math.isfinite(
        record["duration_ms"]
    )


def _kind(arrow_type: Any) -> str:
    import pyarrow as pa

    return "text" if pa.types.is_string(arrow_type) else "time" if pa.types.is_timestamp(arrow_type) else "number"


def _as_column(kind: str, value: Any) -> Any:
    """A value of an op's field as its column (`text`, `time` or a `number`) holds it (a number where
    text belongs was an ArrowTypeError for the whole query): text as is, anything else as its JSON; a
    time from its ISO text; no number or time, no value."""
    if value is None:
        return None
    if kind == "text":
        return value if isinstance(value, str) else json.dumps(value, default=str)
    if kind == "time":
        try:
            return datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            return None
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _arrow_type(annotation: Any):
    import pyarrow as pa

    text = str(annotation)
    if "datetime" in text:  # as text, `ts_start > now() - INTERVAL 1 HOUR` was a Binder Error
        return pa.timestamp("us", tz="UTC")
    if "float" in text:
        return pa.float64()
    if "int" in text:
        return pa.int64()
    return pa.string()
