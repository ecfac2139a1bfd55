"""Distillation modes: score evidence with a versioned scorer; export SFT data behind the firewall.

Evidence comes inline (`evidence`) or from a JSONL file (`evidence_path`); relative paths are
under LH_HOME, and every path must lie under an allowed root unless the caller is trusted (the
CLI). A bad file fails the mode with the file, line and field in the message.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lakehouse.common.errors import PathNotAllowed
from lakehouse.common.paths import allowed_roots
from lakehouse.common.recordfile import read_records, write_json_lines_atomic
from lakehouse.learning.distill import (
    CATEGORIES,
    DEFAULT_SYSTEM_PROMPT,
    EvalItem,
    EvidenceRecord,
    ExportReport,
    Firewall,
    ScoredRecord,
    category_counts,
    export_sft,
    score_all,
)
from lakehouse.learning.drift import evidence_history
from modes.context import ModeContext
from modes.registry import mode


class EvidenceSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    evidence: list[EvidenceRecord] | None = None
    evidence_path: str | None = None

    @model_validator(mode="after")
    def _one_source(self):
        if (self.evidence is None) == (self.evidence_path is None):
            raise ValueError("give exactly one of `evidence` (records) or `evidence_path` (a JSONL file)")
        return self

    def evidence_file(self, ctx: ModeContext) -> Path | None:
        if self.evidence_path is None:
            return None
        return ctx.path(self.evidence_path, field="evidence_path")

    def records(self, ctx: ModeContext, path: Path | None = None) -> list[EvidenceRecord]:
        if self.evidence is not None:
            return self.evidence
        source = path or self.evidence_file(ctx)
        assert source is not None  # `_one_source`: no records, so a file
        return evidence_history(ctx.lakehouse.settings, source)


class ScoreIn(EvidenceSource):
    scorer_version: str | None = None  # default: settings.distill_scorer
    out_path: str | None = None  # also write every scored record here (JSONL)
    include_results: bool = True


class ScoreOut(BaseModel):
    scorer_version: str
    total: int
    counts: dict[str, int]
    results: list[ScoredRecord] = Field(default_factory=list)
    out_path: str | None = None


class ExportIn(EvidenceSource):
    out_path: str
    eval_queries: list[str] | None = None
    eval_path: str | None = None  # JSONL with a `query` per line (a lift query file works)
    scorer_version: str | None = None
    categories: list[str] = Field(default_factory=lambda: ["gold"])
    ngram: int | None = Field(default=None, ge=1, le=50)
    threshold: float | None = Field(default=None, gt=0, le=1)
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT

    @model_validator(mode="after")
    def _check(self):
        if self.eval_queries is None and self.eval_path is None:
            raise ValueError("give the evaluation set: `eval_queries` or `eval_path`; the firewall needs one")
        if not self.categories:  # exported nothing, exit 0: every record "excluded by category"
            raise ValueError(f"categories is empty; give at least one of {', '.join(CATEGORIES)}")
        unknown = [c for c in self.categories if c not in CATEGORIES]
        if unknown:
            raise ValueError(f"unknown categories {unknown}; choose from {', '.join(CATEGORIES)}")
        return self


def _not_an_input(target: Path, inputs: dict[str, Path | None], out_field: str, ctx: ModeContext) -> None:
    """PathNotAllowed when the output would replace a file this call reads: the write would
    destroy the very records it was made from."""
    for field, source in inputs.items():
        if source is not None and os.path.realpath(source) == os.path.realpath(target):
            reason = f"is the file this reads as {field}; write the output to another file"
            raise PathNotAllowed(out_field, str(target), reason, allowed_roots(ctx.lakehouse.settings))


@mode("distillation.score")
def score(inp: ScoreIn, ctx: ModeContext) -> ScoreOut:
    """Categorise evidence records (gold/silver/needs_review/reject) with a versioned scorer."""
    settings = ctx.lakehouse.settings
    version = inp.scorer_version or settings.distill_scorer
    # every path is checked before anything is read or written
    source = inp.evidence_file(ctx)
    target = ctx.path(inp.out_path, field="out_path", for_write=True) if inp.out_path else None
    if target is not None:
        _not_an_input(target, {"evidence_path": source}, "out_path", ctx)
    scored = score_all(inp.records(ctx, source), version)
    out_path = None
    if target is not None:
        out_path = str(write_json_lines_atomic(target, [s.model_dump(mode="json") for s in scored]))
    return ScoreOut(
        scorer_version=version,
        total=len(scored),
        counts=category_counts(scored),
        results=scored if inp.include_results else [],
        out_path=out_path,
    )


@mode("distillation.export")
def export(inp: ExportIn, ctx: ModeContext) -> ExportReport:
    """Write the kept records as SFT chat JSONL; evaluation-set overlaps are refused and counted."""
    settings = ctx.lakehouse.settings
    # every path is checked before anything is read, and every input read before anything is written
    source = inp.evidence_file(ctx)
    eval_file = ctx.path(inp.eval_path, field="eval_path") if inp.eval_path else None
    target = ctx.path(inp.out_path, field="out_path", for_write=True)
    _not_an_input(target, {"evidence_path": source, "eval_path": eval_file}, "out_path", ctx)
    records = inp.records(ctx, source)
    queries = list(inp.eval_queries or [])
    if eval_file is not None:
        queries += [item.query for item in read_records(eval_file, EvalItem)]
    firewall = Firewall(
        queries,
        n=inp.ngram or settings.distill_ngram,
        threshold=inp.threshold or settings.distill_overlap_threshold,
    )
    return export_sft(
        records,
        target,
        firewall=firewall,
        scorer_version=inp.scorer_version or settings.distill_scorer,
        categories=inp.categories,
        system_prompt=inp.system_prompt,
    )
