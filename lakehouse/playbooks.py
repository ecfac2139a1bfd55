"""Playbooks: recorded judgements "for query Q, answer A of corpus C scored S".

A later query similar to Q gets A's distance reduced (positive S) or increased (negative S):

    weight  = S * decay * closeness       decay = 0.5 ** (age_days / half_life_days)
    closeness = (sim(Q, query) - min_similarity) / (1 - min_similarity), 0 below min_similarity
    net     = clip(sum of weights for (C, A), -1, 1)
    net > 0: distance -> distance * (1 - boost * net)          (towards 0)
    net < 0: distance -> distance + boost * |net| * (2 - distance)   (towards 2, the farthest)

Entries are stored in an append-only JSONL log (`lakehouse/jsonl.py` torn-tail rules) with the
query embedding, so a restart does not re-embed history.
"""

from __future__ import annotations

import base64
import math
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lakehouse.jsonl import AppendLog


class PlaybookError(ValueError):
    pass


class PlaybookInput(BaseModel):
    """One entry to record; `ts` (ISO 8601) back-dates it, e.g. when importing history."""

    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    corpus: str = Field(min_length=1)
    score: float = Field(ge=-1.0, le=1.0, allow_inf_nan=False)
    ts: datetime | None = None

    @field_validator("answer", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("ts")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


def describe_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "entry"
        parts.append(f"field {where!r}: {err['msg']}")
    return "; ".join(parts)


@dataclass
class Playbook:
    id: str
    ts: datetime
    query: str
    answer: str
    corpus: str
    score: float
    model: str
    vector: np.ndarray = field(repr=False)

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id, "ts": self.ts.isoformat(), "query": self.query, "answer": self.answer,
            "corpus": self.corpus, "score": self.score, "model": self.model,
            "vector": base64.b64encode(np.asarray(self.vector, dtype="<f4").tobytes()).decode(),
        }

    def public(self) -> dict[str, Any]:
        data = self.record()
        data.pop("vector")
        return data


@dataclass
class PlaybookMatch:
    playbook: Playbook
    similarity: float
    weight: float  # score * decay * closeness


@dataclass
class Boost:
    net: float
    playbook_ids: list[str]

    def apply(self, distance: float, strength: float) -> float:
        if self.net >= 0:
            return distance * (1.0 - strength * self.net)
        return distance + strength * -self.net * (2.0 - distance)


Validator = Callable[[str, str], None]  # (corpus, answer) -> raises if the answer does not exist


class PlaybookStore:
    def __init__(
        self,
        path: Path | str,
        embedder_factory: Callable[[], Any],
        validate: Validator | None = None,
        half_life_days: float = 30.0,
        min_similarity: float = 0.6,
    ) -> None:
        self.log = AppendLog(path)
        self._embedder_factory = embedder_factory
        self._validate = validate
        self.half_life_days = half_life_days
        self.min_similarity = min_similarity
        self._entries: list[Playbook] | None = None
        self._matrix: np.ndarray | None = None
        self._lock = threading.Lock()

    @property
    def embedder(self):
        return self._embedder_factory()

    # loading -----------------------------------------------------------------------------
    def _load(self) -> list[Playbook]:
        if self._entries is not None:
            return self._entries
        embedder = self.embedder
        entries, stale = [], []
        for number, raw in enumerate(self.log.records(), start=1):
            try:
                ts = datetime.fromisoformat(raw["ts"])
                vector = np.frombuffer(base64.b64decode(raw.get("vector") or ""), dtype="<f4")
                entry = Playbook(str(raw["id"]), ts, raw["query"], str(raw["answer"]), raw["corpus"],
                                 float(raw["score"]), raw.get("model") or "", vector.astype(np.float32))
            except (KeyError, ValueError, TypeError) as exc:
                self.log.report.repairs.append(f"{self.log.path}: record {number} skipped ({type(exc).__name__}: {exc})")
                continue
            if entry.model != embedder.name or entry.vector.shape != (embedder.dims,):
                stale.append(entry)  # recorded under another model: embed the query again
            entries.append(entry)
        if stale:
            for entry, vector in zip(stale, embedder.embed([e.query for e in stale])):
                entry.vector = vector
        self._entries = entries
        self._matrix = np.stack([e.vector for e in entries]) if entries else np.zeros((0, embedder.dims), np.float32)
        return entries

    def entries(self) -> list[Playbook]:
        with self._lock:
            return list(self._load())

    def reload(self) -> None:
        with self._lock:
            self._entries = self._matrix = None

    # recording ---------------------------------------------------------------------------
    def _check(self, raw: Any) -> PlaybookInput:
        if isinstance(raw, PlaybookInput):
            item = raw
        elif not isinstance(raw, dict):
            raise PlaybookError(f"expected an object with query, answer, corpus, score; got {type(raw).__name__}")
        else:
            try:
                item = PlaybookInput.model_validate(raw)
            except ValidationError as exc:
                raise PlaybookError(describe_validation(exc)) from None
        if self._validate is not None:
            self._validate(item.corpus, item.answer)
        return item

    def record(self, query: str, answer: str, corpus: str, score: float, ts: datetime | None = None) -> Playbook:
        """Record one entry; raises PlaybookError (nothing stored) when it is invalid."""
        result = self.record_many([{"query": query, "answer": answer, "corpus": corpus, "score": score, "ts": ts}])
        first = result["results"][0]
        if "error" in first:
            raise PlaybookError(first["error"])
        return next(e for e in self.entries() if e.id == first["id"])

    def record_many(self, items: list[Any]) -> dict[str, Any]:
        """Record a batch: `{recorded, failed, results: [{index, id} | {index, error}]}`.

        Each entry stands alone: an invalid one is reported and the others are still stored."""
        results: list[dict[str, Any]] = []
        valid: list[tuple[int, PlaybookInput]] = []
        for index, raw in enumerate(items):
            try:
                valid.append((index, self._check(raw)))
            except (PlaybookError, LookupError, ValueError) as exc:
                results.append({"index": index, "error": str(exc)})
        embedder = self.embedder
        vectors = embedder.embed([item.query for _, item in valid]) if valid else []
        now = datetime.now(timezone.utc)
        with self._lock:
            self._load()
            for (index, item), vector in zip(valid, vectors):
                entry = Playbook(f"pb-{uuid.uuid4().hex[:16]}", item.ts or now, item.query, item.answer,
                                 item.corpus, float(item.score), embedder.name, np.asarray(vector, np.float32))
                try:
                    self.log.append(entry.record())
                except OSError as exc:
                    results.append({"index": index, "error": f"could not store the entry: {exc}"})
                    continue
                self._entries.append(entry)
                self._matrix = np.vstack([self._matrix, entry.vector[None, :]])
                results.append({"index": index, "id": entry.id})
        results.sort(key=lambda r: r["index"])
        failed = sum("error" in r for r in results)
        return {"recorded": len(results) - failed, "failed": failed, "results": results}

    # lookup ------------------------------------------------------------------------------
    def decay(self, ts: datetime, now: datetime) -> float:
        if self.half_life_days <= 0:
            return 1.0
        age_days = max(0.0, (now - ts).total_seconds() / 86400.0)
        return math.pow(0.5, age_days / self.half_life_days)

    def lookup(
        self,
        query_vector: np.ndarray,
        corpora: list[str] | None = None,
        min_similarity: float | None = None,
        now: datetime | None = None,
    ) -> list[PlaybookMatch]:
        """Entries recorded on queries similar to this one, most similar first."""
        floor = self.min_similarity if min_similarity is None else min_similarity
        now = now or datetime.now(timezone.utc)
        with self._lock:
            entries = self._load()
            if not entries:
                return []
            sims = self._matrix @ np.asarray(query_vector, dtype=np.float32)
        matches = []
        for position in np.argsort(-sims, kind="stable"):
            sim = float(sims[position])
            if sim < floor:
                break
            entry = entries[position]
            if corpora is not None and entry.corpus not in corpora:
                continue
            closeness = 1.0 if floor >= 1.0 else min(1.0, (sim - floor) / (1.0 - floor))
            matches.append(PlaybookMatch(entry, sim, entry.score * self.decay(entry.ts, now) * closeness))
        return matches

    @staticmethod
    def boosts(matches: list[PlaybookMatch]) -> dict[tuple[str, str], Boost]:
        """Net boost per (corpus, answer id)."""
        totals: dict[tuple[str, str], Boost] = {}
        for match in matches:
            key = (match.playbook.corpus, match.playbook.answer)
            boost = totals.setdefault(key, Boost(0.0, []))
            boost.net += match.weight
            boost.playbook_ids.append(match.playbook.id)
        for boost in totals.values():
            boost.net = max(-1.0, min(1.0, boost.net))
        return totals

    def close(self) -> None:
        pass
