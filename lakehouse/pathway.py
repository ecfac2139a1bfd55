"""Pathway memory: versioned traces kept as an event-sourced, append-only JSON-lines log.

Every change is one appended event (`add`, `update`, `revise`, `retire`); the current state is the
fold of the log, so nothing is ever rewritten and the whole past stays readable. A revision is a
new trace linked to the old one through `revises`; the old one becomes `superseded`. Search only
sees `active` traces: neither retired traces nor superseded versions come back.

The log follows the observer log's rules (`lakehouse.jsonl.AppendLog`): a torn last line is
truncated on open and reported, a corrupt line elsewhere is reported and the rest still loads. An
event that cannot apply (say, an update of an unknown trace in a hand-merged log) is reported in
`problems` and skipped the same way.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence

import numpy as np
from pydantic import BaseModel, Field

from lakehouse.jsonl import AppendLog

EmbedFn = Callable[[Sequence[str]], np.ndarray]
Status = Literal["active", "retired", "superseded"]
Scalar = str | int | float | bool | None

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_OPS = ("add", "update", "revise", "retire")


class PathwayError(ValueError):
    """A request the memory cannot honour; nothing was written."""


class TraceNotFound(PathwayError, LookupError):
    pass


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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


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
            raise PathwayError(
                f"metadata key {key!r}: values must be strings, numbers, booleans or lists of them"
            )
    return dict(metadata)


def matches(metadata: Mapping[str, Any], where: Mapping[str, Any] | None) -> bool:
    """Equality filter: keys are ANDed; a list of wanted values is OR within its key."""
    for key, wanted in (where or {}).items():
        have = metadata.get(key)
        have_set = have if isinstance(have, list) else [have]
        wanted_set = wanted if isinstance(wanted, list) else [wanted]
        if not any(w in have_set for w in wanted_set):
            return False
    return True


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
            trace = Trace(
                id=tid, text=_check_text(event.get("text")), metadata=_check_metadata(event.get("metadata")),
                version=int(event.get("version") or 1), revises=event.get("revises"), created=ts, updated=ts,
            )
        except (PathwayError, ValueError, TypeError) as exc:
            state.problems.append(f"{label}: {exc}; skipped")
            return
        traces[tid] = trace
        old = traces.get(trace.revises) if op == "revise" and trace.revises else None
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
    def __init__(self, path: Path | str, embed: EmbedFn | None = None) -> None:
        self.log = AppendLog(path)
        self._embed = embed
        self._state = _State()
        self._seen: tuple[int, int] | None = None
        self._vectors: dict[tuple[str, str], np.ndarray] = {}
        # One handle may serve many threads (the HTTP API): check-then-append must not interleave.
        self._lock = threading.RLock()

    @property
    def path(self) -> Path:
        return self.log.path

    # state ---------------------------------------------------------------------------------
    def _file_key(self) -> tuple[int, int]:
        stat = self.path.stat() if self.path.exists() else None
        return (stat.st_size, stat.st_mtime_ns) if stat else (0, 0)

    def _fold(self) -> _State:
        """Re-fold when the file changed (another process may have appended)."""
        with self._lock:
            key = self._file_key()
            if key != self._seen:
                state = _State()
                for event in self.log.records():
                    _apply(state, event)
                self._state, self._seen = state, key
            return self._state

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
                f"cannot {action} trace {trace_id!r}: it was revised by {trace.superseded_by!r}; "
                "use the latest version"
            )
        if trace.status == "retired":
            raise PathwayError(f"cannot {action} trace {trace_id!r}: it is retired")
        return trace

    def _append(self, event: dict[str, Any]) -> Trace:
        self._fold()
        start = self._seen[0] if self._seen else 0
        event = {"ts": _now(), **event}
        self.log.append(event)
        # Fast path: when the only new bytes are our own line, fold just that event instead of
        # re-reading the log (bulk adds stay linear). Anything else forces a full re-fold.
        key = self._file_key()  # before reading: a later append by someone else changes the key
        with open(self.path, "rb") as fh:
            fh.seek(start)
            tail = fh.read(key[0] - start)
        ours = json.loads(json.dumps(event, default=str))
        if tail.count(b"\n") == 1 and tail.endswith(b"\n") and json.loads(tail) == ours:
            _apply(self._state, ours)
            self._seen = key
        else:
            self._seen = None
        return self.get(event["id"])

    def _new_id(self, trace_id: str | None) -> str:
        if trace_id is None:
            return uuid.uuid4().hex
        if not isinstance(trace_id, str) or not _ID.match(trace_id):
            raise PathwayError(
                f"trace id {trace_id!r}: use 1-128 letters, digits, '_', '.', ':' or '-', starting with a letter or digit"
            )
        if trace_id in self._fold().traces:
            raise PathwayError(f"trace id {trace_id!r} already exists")
        return trace_id

    def add(self, text: str, metadata: Mapping[str, Any] | None = None, trace_id: str | None = None) -> Trace:
        event = {"op": "add", "text": _check_text(text), "metadata": _check_metadata(metadata)}
        with self._lock:
            return self._append({**event, "id": self._new_id(trace_id), "version": 1})

    def update(self, trace_id: str, text: str | None = None, metadata: Mapping[str, Any] | None = None) -> Trace:
        """Change a trace in place (no new version); `metadata` keys are merged."""
        if text is None and metadata is None:
            raise PathwayError(f"update of {trace_id!r}: give new text, metadata or both")
        event: dict[str, Any] = {"op": "update", "id": trace_id}
        if text is not None:
            event["text"] = _check_text(text)
        if metadata is not None:
            event["metadata"] = _check_metadata(metadata)
        with self._lock:
            self._writable(trace_id, "update")
            return self._append(event)

    def revise(
        self, trace_id: str, text: str, metadata: Mapping[str, Any] | None = None, new_id: str | None = None
    ) -> Trace:
        """A new version linked to `trace_id`; metadata defaults to the old version's."""
        _check_text(text)
        with self._lock:
            old = self._writable(trace_id, "revise")
            meta = old.metadata if metadata is None else _check_metadata(metadata)
            return self._append(
                {"op": "revise", "id": self._new_id(new_id), "revises": old.id, "version": old.version + 1,
                 "text": text, "metadata": meta}
            )

    def retire(self, trace_id: str, reason: str | None = None) -> Trace:
        with self._lock:
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
                loop = [t.id for t in chain[seen[prev]:]] + [prev]
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
            for trace, vector in zip(missing, vectors):
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
        candidates = [t for t in self.traces("active") if matches(t.metadata, where)]
        if not candidates:
            return []
        scores = self._vectors_for(candidates) @ _unit(self._embed_texts([query]))[0]
        order = sorted(range(len(candidates)), key=lambda i: (-float(scores[i]), candidates[i].id))
        return [PathwayHit(trace=candidates[i], score=round(float(scores[i]), 6)) for i in order[:top_k]]


def settings_embedder(settings: Any) -> EmbedFn:
    """An embed callable that loads the configured model on first use, not at construction."""

    def embed(texts: Sequence[str]) -> np.ndarray:
        from lakehouse.embed import get_embedder

        return get_embedder(settings.embed_model, settings).embed(list(texts))

    return embed
