"""Drift modes: scorer drift over a history, playbook drift against today's index, embedding drift
between two snapshots. Relative paths are under LH_HOME; bad files name the file and line."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lakehouse.distill import EvidenceRecord
from lakehouse.drift import (
    EmbeddingDrift,
    PlaybookDrift,
    PlaybookEntry,
    ScorerDrift,
    embedding_drift,
    load_vectors,
    playbook_drift,
    scorer_drift,
)
from lakehouse.recordfile import read_records, resolve_under
from modes.context import ModeContext
from modes.registry import get_mode, mode


class ScorerDriftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    history: list[EvidenceRecord] | None = None
    history_path: str | None = None
    old_version: str
    new_version: str | None = None  # default: settings.distill_scorer
    examples: int = Field(default=5, ge=0, le=1000)

    @model_validator(mode="after")
    def _one_source(self):
        if (self.history is None) == (self.history_path is None):
            raise ValueError("give exactly one of `history` (records) or `history_path` (a JSONL file)")
        return self


class PlaybookDriftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entries: list[PlaybookEntry] | None = None
    entries_path: str | None = None  # JSONL: {"query", "answer_id", "corpus"?, "score"?}
    corpora: list[str] = Field(min_length=1)
    top_k: int = Field(default=10, ge=1, le=1000)

    @model_validator(mode="after")
    def _one_source(self):
        if (self.entries is None) == (self.entries_path is None):
            raise ValueError("give exactly one of `entries` (playbook entries) or `entries_path` (a JSONL file)")
        return self


class EmbeddingDriftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    a_path: str  # the reference snapshot: .npy (2-D) or .jsonl ({"vector": [...]} per line)
    b_path: str
    alpha: float | None = Field(default=None, gt=0, lt=1)  # default: settings.drift_alpha


@mode("drift.scorer")
def scorer(inp: ScorerDriftIn, ctx: ModeContext) -> ScorerDrift:
    """Re-score a history with two scorer versions; drifted count and a stable shift matrix."""
    settings = ctx.lakehouse.settings
    history = inp.history
    if history is None:
        history = read_records(resolve_under(settings.home_dir, inp.history_path), EvidenceRecord)
    return scorer_drift(history, inp.old_version, inp.new_version or settings.distill_scorer, examples=inp.examples)


def matrix_search_fn(ctx: ModeContext, corpora: list[str]):
    """Today's ranking from `matrix.search`, with playbook boosting off (else a recorded answer is
    boosted into the top k by the very playbook whose drift we measure)."""
    spec = get_mode("matrix.search")
    fields = spec.input_model.model_fields
    switch = next((f for f in ("use_playbooks", "playbooks", "playbook") if f in fields), None)

    def search(query: str, top_k: int) -> list[dict[str, Any]]:
        payload: dict[str, Any] = {"query": query, "corpora": corpora, "top_k": top_k}
        if switch:
            payload[switch] = False
        out = spec(payload, ctx).model_dump(mode="json")
        return out["hits"]

    return search


@mode("drift.playbook")
def playbook(inp: PlaybookDriftIn, ctx: ModeContext) -> PlaybookDrift:
    """Recorded good matches whose answer is no longer in today's top k."""
    entries = inp.entries
    if entries is None:
        entries = read_records(resolve_under(ctx.lakehouse.settings.home_dir, inp.entries_path), PlaybookEntry)
    return playbook_drift(entries, matrix_search_fn(ctx, inp.corpora), top_k=inp.top_k)


@mode("drift.embedding")
def embedding(inp: EmbeddingDriftIn, ctx: ModeContext) -> EmbeddingDrift:
    """Two-sample KS tests between two vector snapshots (a 1-D projection and per dimension)."""
    settings = ctx.lakehouse.settings
    a = load_vectors(resolve_under(settings.home_dir, inp.a_path))
    b = load_vectors(resolve_under(settings.home_dir, inp.b_path))
    return embedding_drift(a, b, alpha=inp.alpha or settings.drift_alpha)
