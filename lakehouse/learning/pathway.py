"""Pathway memory: versioned traces kept as an event-sourced, append-only JSON-lines log.

Every change is one appended event (`add`, `update`, `revise`, `retire`); the current state is the
fold of the log, so nothing is ever rewritten and the whole past stays readable. A revision is a
new trace linked to the old one through `revises`; the old one becomes `superseded`. Search only
sees `active` traces: neither retired traces nor superseded versions come back.

The log follows the observer log's rules (`lakehouse.common.jsonl.AppendLog`): a torn last line is
left for the next append to close off (then it is a corrupt line), a corrupt line is reported and
the rest still loads. An
event that cannot apply (say, an update of an unknown trace in a hand-merged log) is reported in
`problems` and skipped the same way.

A long-running process (the API) sees what other processes append: every read checks the log with
one `stat` and folds only the events appended since (`AppendLog.read_since`); a log that was
replaced is folded again from the start. Writes hold the log's cross-process lock between their
check ("does this id exist?") and their append.

`add_many` is the idempotent bulk import: an entry's id is its `id`, else a hash of its text and
metadata; an entry whose id is already in the log with the same text and metadata is skipped as a
`duplicate`, so re-running an import that a crash cut short adds every trace exactly once.

With shared state on (`shared`), the log is also flushed to the lakehouse table `_lh_pathway`; the
state is then the fold of every LH_HOME's flushed events and this one's unflushed ones, in time
order, folded again whenever the table gets a new snapshot.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from lakehouse.common.jsonl import AppendLog, LogCursor
from lakehouse.data.shared_log import KINDS, SharedLog, row_id
from lakehouse.learning.errors import PathwayError, TraceNotFound
from lakehouse.search.filters import check_filter, matches

EmbedFn = Callable[[Sequence[str]], np.ndarray]
Status = Literal["active", "retired", "superseded"]
Scalar = str | int | float | bool | None

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_OPS = ("add", "update", "revise", "retire")


class Trace(BaseModel):
    id: str
    text: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    version: int = 1
    revises: str | None = None
    status: Status = "active"
    superseded_by: str | None = None
    retired_reason: str | None = None
    created: str
    updated: str


class History(BaseModel):
    """A revise chain from the asked-for trace back to its first version (newest first)."""

    chain: list[Trace]
    cycle: list[str] | None = None  # ids around the loop, when the links form one
    broken_link: str | None = None  # a `revises` id that is not in the log

    @property
    def ids(self) -> list[str]:
        return [t.id for t in self.chain]


class PathwayHit(BaseModel):
    trace: Trace
    score: float


@dataclass
class _State:
    traces: dict[str, Trace] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    events: int = 0
    digests: dict[str, str] = field(default_factory=dict)  # id -> digest of the text/metadata it was added with


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _check_text(text: Any, what: str = "text") -> str:
    if not isinstance(text, str) or not text.strip():
        raise PathwayError(f"{what}: a trace needs non-empty text")
    return text


def _check_metadata(metadata: Any) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise PathwayError(f"metadata: expected an object of key -> value, got {type(metadata).__name__}")
    for key, value in metadata.items():
        if not isinstance(key, str) or not key:
            raise PathwayError(f"metadata: keys must be non-empty strings, got {key!r}")
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(v, Scalar) for v in items):
            raise PathwayError(f"metadata key {key!r}: values must be strings, numbers, booleans or lists of them")
    return dict(metadata)


def digest(text: str, metadata: Mapping[str, Any]) -> str:
    """What defines a trace as added: its text and metadata (key order does not matter)."""
    key = json.dumps([text, dict(metadata)], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(key.encode()).hexdigest()


def check_id(trace_id: Any) -> str:
    if not isinstance(trace_id, str) or not _ID.match(trace_id):
        raise PathwayError(
            f"trace id {trace_id!r}: use 1-128 letters, digits, '_', '.', ':' or '-', starting with a letter or digit"
        )
    return trace_id


def check_entry(raw: Any) -> tuple[str | None, str, dict[str, Any]]:
    """(id or None, text, metadata) of one `add_many` entry `{text, metadata?, id?}`, or PathwayError
    saying what is wrong with it (a file's lines are all checked with this before any is added)."""
    if not isinstance(raw, Mapping):
        raise PathwayError(f"expected an object with text, metadata, id; got {type(raw).__name__}")
    unknown = sorted(set(raw) - {"text", "metadata", "id"})
    if unknown:
        raise PathwayError(f"unknown field(s) {unknown}: an entry has text, metadata and id")
    trace_id = check_id(raw["id"]) if raw.get("id") is not None else None
    return trace_id, _check_text(raw.get("text")), _check_metadata(raw.get("metadata"))


def _apply(state: _State, event: dict[str, Any]) -> None:
    """Fold one event into the state; an event that cannot apply is reported and skipped."""
    state.events += 1
    op, tid = event.get("op"), event.get("id")
    label = f"event {state.events} ({op} {tid})"
    traces = state.traces
    if op not in _OPS or not isinstance(tid, str):
        state.problems.append(f"{label}: unknown operation or missing id; skipped")
        return
    ts = str(event.get("ts") or "")
    if op in ("add", "revise"):
        if tid in traces:
            state.problems.append(f"{label}: trace id already exists; skipped")
            return
        try:
            added = Trace(
                id=tid,
                text=_check_text(event.get("text")),
                metadata=_check_metadata(event.get("metadata")),
                version=int(event.get("version") or 1),
                revises=event.get("revises"),
                created=ts,
                updated=ts,
            )
        except (PathwayError, ValueError, TypeError) as exc:
            state.problems.append(f"{label}: {exc}; skipped")
            return
        traces[tid] = added
        state.digests[tid] = digest(added.text, added.metadata)
        old = traces.get(added.revises) if op == "revise" and added.revises else None
        if old is not None:
            old.status, old.superseded_by, old.updated = "superseded", tid, ts
        return
    trace = traces.get(tid)
    if trace is None:
        state.problems.append(f"{label}: no such trace; skipped")
        return
    if op == "update":
        try:
            text = _check_text(event["text"]) if "text" in event else trace.text
            metadata = _check_metadata(event.get("metadata"))
        except PathwayError as exc:
            state.problems.append(f"{label}: {exc}; skipped")
            return
        trace.text, trace.metadata = text, {**trace.metadata, **metadata}
    else:
        trace.status, trace.retired_reason = "retired", event.get("reason")
    trace.updated = ts


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise PathwayError(f"the embedder returned an array of shape {vectors.shape}; expected (n, d)")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


class PathwayMemory:
    def __init__(self, path: Path | str, embed: EmbedFn | None = None, shared: SharedLog | None = None) -> None:
        self.log = AppendLog(path)
        self.shared = shared
        self._remote_mark: tuple[int, int] | None = None  # (generation, rows) of the shared table folded
        self._applied: set[str] = set()  # row ids of the events folded (shared state)
        self._embed = embed
        self._state = _State()
        self._cursor: LogCursor | None = None  # how far the log has been folded
        self._vectors: dict[tuple[str, str], np.ndarray] = {}
        # One handle may serve many threads (the HTTP API): check-then-append must not interleave.
        self._lock = threading.RLock()

    @property
    def path(self) -> Path:
        return self.log.path

    # state ---------------------------------------------------------------------------------
    def _fold(self) -> _State:
        """The state, brought up to date with the log: one `stat` when nothing changed, else only
        the events appended since the last fold (by this process or another) are applied; a log
        that was replaced or cut is folded again from the start."""
        with self._lock:
            if self.shared is not None:
                return self._fold_shared(self.shared)
            if self._cursor is not None and not self.log.changed(self._cursor):
                return self._state
            events, cursor, reset = self.log.read_since(self._cursor)
            if reset:
                self._state = _State()
            for event in events:
                _apply(self._state, event)
            self._cursor = cursor
            return self._state

    def _fold_shared(self, shared: SharedLog) -> _State:
        """`_fold` over the shared table and the local log (the caller holds the lock): local
        events are folded as they come while the table is unchanged; a new snapshot (other
        processes' events, possibly older) folds everything again in (ts, origin, position) order."""
        kind = KINDS["pathway"]
        generation, rows = shared.remote()
        mark = (generation, len(rows))
        if mark == self._remote_mark and self._cursor is not None:
            if not self.log.changed(self._cursor):
                return self._state
            events, cursor, reset = self.log.read_since(self._cursor)
            if not reset:
                for event in events:
                    rid = row_id(kind, event)
                    if rid not in self._applied:
                        self._applied.add(rid)
                        _apply(self._state, event)
                self._cursor = cursor
                return self._state
        events, cursor, _ = self.log.read_since(None)
        merged: dict[str, tuple[tuple[str, str, int], dict[str, Any]]] = {r.id: (r.order, r.record) for r in rows}
        for index, event in enumerate(events):
            merged.setdefault(row_id(kind, event), ((str(event.get("ts") or ""), shared.origin, index), event))
        state = _State()
        for _, event in sorted(merged.values(), key=lambda item: item[0]):
            _apply(state, event)
        self._state, self._cursor, self._applied, self._remote_mark = state, cursor, set(merged), mark
        return state

    @contextmanager
    def _writing(self) -> Iterator[_State]:
        """Check-then-append as one step, against this process's threads and other processes."""
        with self._lock, self.log.exclusive():
            yield self._fold()

    @property
    def problems(self) -> list[str]:
        """Everything the last load had to repair or skip, as readable lines."""
        state = self._fold()
        corrupt = [f"{self.path} {c}; skipped" for c in self.log.report.corrupt]
        return list(self.log.report.repairs) + corrupt + state.problems

    def get(self, trace_id: str) -> Trace:
        with self._lock:
            trace = self._fold().traces.get(trace_id)
            if trace is None:
                raise TraceNotFound(f"no trace with id {trace_id!r} in {self.path}")
            return trace.model_copy(deep=True)

    def traces(self, status: Status | None = None) -> list[Trace]:
        with self._lock:
            return [t.model_copy(deep=True) for t in self._fold().traces.values() if status in (None, t.status)]

    # changes -------------------------------------------------------------------------------
    def _writable(self, trace_id: str, action: str) -> Trace:
        trace = self.get(trace_id)
        if trace.status == "superseded":
            raise PathwayError(
                f"cannot {action} trace {trace_id!r}: it was revised by {trace.superseded_by!r}; use the latest version"
            )
        if trace.status == "retired":
            raise PathwayError(f"cannot {action} trace {trace_id!r}: it is retired")
        return trace

    def _append(self, event: dict[str, Any]) -> Trace:
        """Append one event (the caller holds `_writing`) and fold it, with whatever else was
        appended meanwhile, by reading the log's new tail: bulk adds stay linear."""
        event = {"ts": _now(), **event}
        self.log.append(event)
        self._fold()
        return self.get(event["id"])

    def _new_id(self, trace_id: str | None) -> str:
        if trace_id is None:
            return uuid.uuid4().hex
        check_id(trace_id)
        if trace_id in self._fold().traces:
            raise PathwayError(f"trace id {trace_id!r} already exists")
        return trace_id

    def add(self, text: str, metadata: Mapping[str, Any] | None = None, trace_id: str | None = None) -> Trace:
        event = {"op": "add", "text": _check_text(text), "metadata": _check_metadata(metadata)}
        with self._writing():
            return self._append({**event, "id": self._new_id(trace_id), "version": 1})

    def add_many(self, items: Sequence[Any]) -> dict[str, Any]:
        """Idempotent bulk add: `{added, skipped, failed, results: [{index, id, status}]}` with
        status `added`, `duplicate` (the id is already in the log with this text and metadata:
        nothing written), `conflict` (the id names a trace with other text or metadata: never
        overwritten) or `failed` (with `error`); a failed or conflicting entry has its `error`,
        and the other entries still go in.

        An entry is `{text, metadata?, id?}`; without an id its id is `tr-` + a hash of its text
        and metadata, so re-running an import adds nothing twice. An id already in the log with
        other text or metadata is a failure, never an overwrite."""
        results: list[dict[str, Any]] = []
        with self._writing() as state:
            batch: dict[str, str] = {}
            pending: list[tuple[int, dict[str, Any]]] = []
            for index, raw in enumerate(items):
                tid = None
                try:
                    if isinstance(raw, Mapping) and raw.get("id") is not None:
                        tid = check_id(raw["id"])  # a refusal of its text still names the entry by id
                    tid, text, metadata = check_entry(raw)
                    key = digest(text, metadata)
                    tid = tid or f"tr-{key[:24]}"
                    have = state.digests.get(tid, batch.get(tid))
                    if have is None and tid in state.traces:
                        have = ""
                    if have == key:
                        results.append({"index": index, "id": tid, "status": "duplicate"})
                        continue
                    if have is not None:
                        error = f"trace id {tid!r} already exists with other text or metadata; not added"
                        results.append({"index": index, "id": tid, "status": "conflict", "error": error})
                        continue
                except PathwayError as exc:
                    results.append({"index": index, "id": tid, "status": "failed", "error": str(exc)})
                    continue
                batch[tid] = key
                pending.append((index, {"op": "add", "id": tid, "text": text, "metadata": metadata, "version": 1}))
            for index, event in pending:
                try:
                    self.log.append({"ts": _now(), **event})
                except OSError as exc:
                    error = f"could not store the trace: {exc}"
                    results.append({"index": index, "id": event["id"], "status": "failed", "error": error})
                    continue
                results.append({"index": index, "id": event["id"], "status": "added"})
            self._fold()
        results.sort(key=lambda r: r["index"])
        counts = {s: sum(r["status"] == s for r in results) for s in ("added", "duplicate")}
        return {
            "added": counts["added"],
            "skipped": counts["duplicate"],
            "failed": len(results) - counts["added"] - counts["duplicate"],
            "results": results,
        }

    def update(self, trace_id: str, text: str | None = None, metadata: Mapping[str, Any] | None = None) -> Trace:
        """Change a trace in place (no new version); `metadata` keys are merged."""
        if text is None and metadata is None:
            raise PathwayError(f"update of {trace_id!r}: give new text, metadata or both")
        event: dict[str, Any] = {"op": "update", "id": trace_id}
        if text is not None:
            event["text"] = _check_text(text)
        if metadata is not None:
            event["metadata"] = _check_metadata(metadata)
        with self._writing():
            self._writable(trace_id, "update")
            return self._append(event)

    def revise(
        self, trace_id: str, text: str, metadata: Mapping[str, Any] | None = None, new_id: str | None = None
    ) -> Trace:
        """A new version linked to `trace_id`; metadata defaults to the old version's."""
        _check_text(text)
        with self._writing():
            old = self._writable(trace_id, "revise")
            meta = old.metadata if metadata is None else _check_metadata(metadata)
            return self._append(
                {
                    "op": "revise",
                    "id": self._new_id(new_id),
                    "revises": old.id,
                    "version": old.version + 1,
                    "text": text,
                    "metadata": meta,
                }
            )

    def retire(self, trace_id: str, reason: str | None = None) -> Trace:
        with self._writing():
            self._writable(trace_id, "retire")
            return self._append({"op": "retire", "id": trace_id, "reason": reason})

    # reading -------------------------------------------------------------------------------
    def history(self, trace_id: str) -> History:
        """Walk `revises` links backwards from `trace_id`; a loop is reported, never followed twice."""
        traces = self._fold().traces
        chain: list[Trace] = [self.get(trace_id)]
        seen = {trace_id: 0}
        while (prev := chain[-1].revises) is not None:
            if prev in seen:
                loop = [t.id for t in chain[seen[prev] :]] + [prev]
                return History(chain=chain, cycle=loop)
            if prev not in traces:
                return History(chain=chain, broken_link=prev)
            seen[prev] = len(chain)
            chain.append(traces[prev].model_copy(deep=True))
        return History(chain=chain)

    def _vectors_for(self, traces: list[Trace]) -> np.ndarray:
        missing = [t for t in traces if (t.id, t.text) not in self._vectors]
        if missing:
            vectors = _unit(self._embed_texts([t.text for t in missing]))
            for trace, vector in zip(missing, vectors, strict=False):
                self._vectors[(trace.id, trace.text)] = vector
        return np.stack([self._vectors[(t.id, t.text)] for t in traces])

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        if self._embed is None:
            raise PathwayError("pathway search needs an embedder; none was configured")
        vectors = np.asarray(self._embed(texts))
        if vectors.shape[0] != len(texts):
            raise PathwayError(f"the embedder returned {vectors.shape[0]} vectors for {len(texts)} texts")
        return vectors

    def search(self, query: str, top_k: int = 5, where: Mapping[str, Any] | None = None) -> list[PathwayHit]:
        """Active traces by cosine similarity of their text to `query`, after the metadata filter."""
        _check_text(query, "query")
        if top_k < 1:
            raise PathwayError(f"top_k must be at least 1, got {top_k}")
        check_filter(where, "where")
        candidates = [t for t in self.traces("active") if matches(t.metadata, where)]
        if not candidates:
            return []
        scores = self._vectors_for(candidates) @ _unit(self._embed_texts([query]))[0]
        order = sorted(range(len(candidates)), key=lambda i: (-float(scores[i]), candidates[i].id))
        return [PathwayHit(trace=candidates[i], score=round(float(scores[i]), 6)) for i in order[:top_k]]


def settings_embedder(settings: Any) -> EmbedFn:
    """An embed callable that loads the configured model on first use, not at construction."""

    def embed(texts: Sequence[str]) -> np.ndarray:
        from lakehouse.search.embed import get_embedder

        return get_embedder(settings.embed_model, settings).embed(list(texts))

    return embed
