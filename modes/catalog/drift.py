"""Drift modes: scorer drift over a history, playbook drift against today's index, embedding drift
between two snapshots. Relative paths are under LH_HOME and must lie under an allowed root unless the
caller is trusted (the CLI); bad files name the file and line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lakehouse.common.recordfile import read_records
from lakehouse.errors import UserError
from lakehouse.learning.distill import EvidenceRecord
from lakehouse.learning.drift import (
    EmbeddingDrift,
    PlaybookDrift,
    PlaybookEntry,
    ScorerDrift,
    answers_held,
    embedding_drift,
    evidence_history,
    load_vectors,
    playbook_drift,
    recorded_matches,
    scorer_drift,
)
from modes.context import ModeContext
from modes.registry import mode


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
    entries_path: str | None = None  # JSONL of playbook records: {"query", "answer", "corpus"?, ...}
    corpora: list[str] = Field(min_length=1)
    top_k: int = Field(default=10, ge=1, le=1000)

    @model_validator(mode="after")
    def _at_most_one_source(self):
        if self.entries is not None and self.entries_path is not None:
            raise ValueError("give `entries` or `entries_path`, not both (neither: the recorded playbooks)")
        return self


class EmbeddingDriftIn(BaseModel):
    """Two snapshots: two vector files, or two Iceberg snapshots of a corpus's table."""

    model_config = ConfigDict(extra="forbid")
    a_path: str | None = None  # the reference: .npy (2-D) or .jsonl ({"vector": [...]} per line)
    b_path: str | None = None
    corpus: str | None = None
    snapshot_a: int | None = None  # snapshot id of the corpus table (the reference)
    snapshot_b: int | None = None  # default: the current snapshot
    alpha: float | None = Field(default=None, gt=0, lt=1)  # default: settings.drift_alpha

    @model_validator(mode="after")
    def _one_pair(self):
        files = self.a_path is not None and self.b_path is not None
        snaps = self.corpus is not None and self.snapshot_a is not None
        if files == snaps:
            raise ValueError(
                "give either `a_path` and `b_path` (the CLI's --a and --b), or `corpus` and `snapshot_a` (and "
                "`snapshot_b`; --corpus, --snapshot-a, --snapshot-b)"
            )
        return self


@mode("drift.scorer")
def scorer(inp: ScorerDriftIn, ctx: ModeContext) -> ScorerDrift:
    """Re-score a history with two scorer versions; drifted count and a stable shift matrix."""
    settings = ctx.lakehouse.settings
    history, skipped = inp.history, list[str]()
    if history is None:
        assert inp.history_path is not None  # `_one_source`: no records, so a file
        path = ctx.path(inp.history_path, field="history_path")
        history = evidence_history(settings, path, skipped)
    drift = scorer_drift(history, inp.old_version, inp.new_version or settings.distill_scorer, examples=inp.examples)
    return drift.model_copy(update={"skipped_count": len(skipped), "skipped": skipped[:10]})


def matrix_search_fn(ctx: ModeContext, corpora: list[str]):
    """Today's ranking from the matrix with playbook boosting and the relevance filter off: a
    recorded answer must not be lifted by the very playbook whose drift is measured, and the
    question is where it ranks, not whether it clears a threshold."""
    matrix = ctx.lakehouse.matrix

    def search(query: str, top_k: int) -> list[dict[str, Any]]:
        result = matrix.search(
            query, corpora, top_k=top_k, top_n=top_k, use_playbooks=False, relevance=False, force_mode=True
        )
        return [{"id": hit.id, "corpus": hit.corpus} for hit in result.hits]

    return search


def recorded_entries(ctx: ModeContext, corpora: list[str]) -> list[PlaybookEntry]:
    """The good matches recorded for these corpora, each pair by its newest verdict (a match rated
    good, then wrong, is not checked), as `adapt` trains by."""
    return recorded_matches(ctx.lakehouse.playbooks.entries(), corpora)


@mode("drift.playbook")
def playbook(inp: PlaybookDriftIn, ctx: ModeContext) -> PlaybookDrift:
    """Recorded good matches whose answer is no longer in today's top k."""
    entries = inp.entries
    if inp.entries_path is not None:
        entries = read_records(ctx.path(inp.entries_path, field="entries_path"), PlaybookEntry)
    elif entries is None:
        entries = recorded_entries(ctx, inp.corpora)
    return playbook_drift(
        entries,
        matrix_search_fn(ctx, inp.corpora),
        top_k=inp.top_k,
        changed_since=index_changed_fn(ctx, inp.corpora),
        answer_held=answers_held(ctx.lakehouse.corpora, inp.corpora),
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def index_changed_fn(ctx: ModeContext, corpora: list[str]):
    """Whether a corpus an entry may match was built or updated after the entry was recorded.

    An entry without a time, or naming no corpus, is compared with the newest of the searched corpora;
    without a time the answer counts as changed (drifted when outside the top k)."""
    updated = {
        name: _aware(datetime.fromisoformat(ctx.lakehouse.corpora.manifest(name).updated_at)) for name in corpora
    }

    def changed(entry: PlaybookEntry) -> bool:
        if entry.ts is None:
            return True
        ts = _aware(entry.ts)
        times = [updated[entry.corpus]] if entry.corpus in updated else list(updated.values())
        return any(t > ts for t in times)

    return changed


def corpus_vectors(ctx: ModeContext, corpus: str, snapshot_id: int | None) -> np.ndarray:
    """The live vectors of a corpus as its table stood at `snapshot_id` (None: now)."""
    from lakehouse.search.vectors.manifest import corpus_table_name

    table = ctx.lakehouse.tables.read_arrow(
        corpus_table_name(corpus), columns=["vector", "deleted"], snapshot_id=snapshot_id
    )
    live = [not deleted for deleted in table.column("deleted").to_pylist()]
    vectors = table.column("vector").to_pylist()
    return np.asarray([v for v, keep in zip(vectors, live, strict=False) if keep], dtype=np.float64)


def same_snapshot(ctx: ModeContext, corpus: str, snapshot_a: int | None, snapshot_b: int | None) -> None:
    """Refuse to compare a snapshot with itself (it would say "no drift" whatever happened)."""
    from lakehouse.search.vectors.manifest import corpus_table_name

    current = ctx.lakehouse.tables.current_snapshot_id(corpus_table_name(corpus))
    b = current if snapshot_b is None else snapshot_b
    if snapshot_a == b:
        which = " (the current one: snapshot_b defaults to it)" if snapshot_b is None else ""
        raise UserError(
            f"snapshot_a and snapshot_b (--snapshot-a, --snapshot-b) are the same snapshot {b} of corpus {corpus!r}"
            f"{which}: a snapshot compared with itself shows no drift by construction; give an older snapshot_a or "
            f"another snapshot_b (the table's snapshots: `lakehouse table {corpus_table_name(corpus)}`)"
        )


@mode("drift.embedding")
def embedding(inp: EmbeddingDriftIn, ctx: ModeContext) -> EmbeddingDrift:
    """Two-sample KS tests between two vector snapshots (a 1-D projection and per dimension)."""
    settings = ctx.lakehouse.settings
    if inp.corpus is not None:
        same_snapshot(ctx, inp.corpus, inp.snapshot_a, inp.snapshot_b)
        a = corpus_vectors(ctx, inp.corpus, inp.snapshot_a)
        b = corpus_vectors(ctx, inp.corpus, inp.snapshot_b)
    else:
        assert inp.a_path is not None and inp.b_path is not None  # `_one_pair`: no corpus, so two files
        a_file = ctx.path(inp.a_path, field="a_path")
        b_file = ctx.path(inp.b_path, field="b_path")
        a = load_vectors(a_file)  # first: a missing file is said so, not "the same file"
        if Path(a_file).resolve() == Path(b_file).resolve():
            raise UserError(
                f"a_path and b_path (--a, --b) are the same file {a_file}: a snapshot compared with itself shows "
                "no drift by construction; give two different snapshots"
            )
        b = load_vectors(b_file)
    return embedding_drift(a, b, alpha=inp.alpha or settings.drift_alpha)
