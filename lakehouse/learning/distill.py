"""Distillation: score evidence with a versioned scorer, keep evaluation data out, export SFT data.

- A scorer is a pure function `EvidenceRecord -> (category, reasons)` registered under a version
  in `SCORERS`. Versions are never edited once published; new rules get a new version, and
  `lakehouse.learning.drift.scorer_drift` measures what the change does to past records.
- The contamination firewall refuses any record whose query matches an evaluation query exactly
  (after normalisation) or shares more than `threshold` of its word n-grams with one. Answers are
  not compared: many records legitimately share an answer (an occupation) with evaluation items.
  Refused records are counted and never exported, so an evaluation can't be trained on.
- The export is JSON lines in the chat format most SFT trainers read:
  `{"messages": [{"role": "system"|"user"|"assistant", "content": ...}]}`.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lakehouse.common.recordfile import write_json_lines_atomic
from lakehouse.learning.errors import DistillError, UnknownScorerError
from lakehouse.learning.verdicts import newest_only, pair_key

Category = Literal["gold", "silver", "needs_review", "reject"]
CATEGORIES: tuple[Category, ...] = ("gold", "silver", "needs_review", "reject")
DEFAULT_SYSTEM_PROMPT = "You are a staffing assistant. Match the request to the best-fitting occupation and say why."


class EvidenceRecord(BaseModel):
    """One judged run of the pipeline: what was asked, what came back, how it was judged."""

    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    judge_score: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)  # None: not judged
    success: bool
    latency_ms: float = Field(ge=0, allow_inf_nan=False)
    flags: list[str] = Field(default_factory=list)
    source_run: str | None = None
    # A stable id (a rating's), so re-importing appends a record once; provenance (who rated, the
    # corpus and hit id, the surface) goes in `meta`, which no scorer reads: a flag would send every
    # rated record to review.
    id: str | None = None
    meta: dict[str, str] = Field(default_factory=dict)


class EvalItem(BaseModel):
    """An evaluation query; extra keys (e.g. a lift query file's `expected`) are ignored."""

    model_config = ConfigDict(extra="ignore")
    query: str = Field(min_length=1)


class ScoredRecord(BaseModel):
    record: EvidenceRecord
    category: Category
    scorer_version: str
    reasons: list[str]


# scorers -----------------------------------------------------------------------------------
Verdict = tuple[Category, list[str]]
_HARD_FLAGS = frozenset({"pii", "toxic", "hallucination", "unsafe"})


def _score_v1(r: EvidenceRecord) -> Verdict:
    """v1: success and the judge decide; any flag sends the record to review."""
    if not r.success:
        return "reject", ["run failed"]
    if r.flags:
        return "needs_review", [f"flagged: {', '.join(sorted(r.flags))}"]
    if r.judge_score is None:
        return "needs_review", ["no judge score"]
    if r.judge_score >= 0.8:
        return "gold", ["judge score >= 0.8"]
    if r.judge_score >= 0.5:
        return "silver", ["judge score >= 0.5"]
    return "reject", ["judge score < 0.5"]


def _score_v2(r: EvidenceRecord) -> Verdict:
    """v2: stricter gold (0.9 and under 5 s), hard flags reject outright, soft flags review."""
    if not r.success:
        return "reject", ["run failed"]
    hard = sorted(set(r.flags) & _HARD_FLAGS)
    if hard:
        return "reject", [f"hard flag: {', '.join(hard)}"]
    if r.flags:
        return "needs_review", [f"flagged: {', '.join(sorted(r.flags))}"]
    if r.judge_score is None:
        return "needs_review", ["no judge score"]
    if r.judge_score >= 0.9 and r.latency_ms <= 5000:
        return "gold", ["judge score >= 0.9 within 5000 ms"]
    if r.judge_score >= 0.6:
        return "silver", ["judge score >= 0.6"]
    return "reject", ["judge score < 0.6"]


SCORERS: dict[str, Callable[[EvidenceRecord], Verdict]] = {"v1": _score_v1, "v2": _score_v2}
LATEST_SCORER = "v2"


def get_scorer(version: str) -> Callable[[EvidenceRecord], Verdict]:
    try:
        return SCORERS[version]
    except KeyError:
        raise UnknownScorerError(version, SCORERS) from None


def score(record: EvidenceRecord, version: str = LATEST_SCORER) -> ScoredRecord:
    category, reasons = get_scorer(version)(record)
    return ScoredRecord(record=record, category=category, scorer_version=version, reasons=reasons)


def score_all(records: Iterable[EvidenceRecord], version: str = LATEST_SCORER) -> list[ScoredRecord]:
    get_scorer(version)  # fail before scoring anything
    return [score(r, version) for r in records]


def category_counts(scored: Iterable[ScoredRecord]) -> dict[str, int]:
    counts = Counter(s.category for s in scored)
    return {c: counts.get(c, 0) for c in CATEGORIES}


# contamination firewall ----------------------------------------------------------------------
_NON_WORD = re.compile(r"[^\w\s]+")


def normalize(text: str) -> str:
    """Case-, accent-width- and punctuation-insensitive form with single spaces."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", text).split())


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = normalize(text).split()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


ContaminationReason = Literal["exact", "ngram"]


class Contamination(BaseModel):
    reason: ContaminationReason
    eval_index: int
    overlap: float


class Firewall:
    """Detects records that overlap an evaluation set; build once, check many."""

    def __init__(self, eval_texts: Iterable[str], *, n: int = 3, threshold: float = 0.5) -> None:
        if n < 1:
            raise DistillError(f"n-gram size must be at least 1, got {n}")
        if not 0 < threshold <= 1:
            raise DistillError(f"overlap threshold must be in (0, 1], got {threshold}")
        self.n, self.threshold = n, threshold
        self._exact: dict[str, int] = {}
        self._index: dict[tuple[str, ...], set[int]] = defaultdict(set)
        self._sizes: list[int] = []
        for i, text in enumerate(eval_texts):
            if normalize(text):  # an all-punctuation item would "match" every other one
                self._exact.setdefault(normalize(text), i)
            grams = ngrams(text, n)
            self._sizes.append(len(grams))
            for gram in grams:
                self._index[gram].add(i)

    @classmethod
    def from_items(cls, items: Iterable[EvalItem], **kwargs) -> Firewall:
        return cls([item.query for item in items], **kwargs)

    def check_text(self, text: str) -> tuple[ContaminationReason, int, float] | None:
        """(reason, eval index, overlap) when `text` overlaps an evaluation text, else None.

        Overlap is shared n-grams over the smaller n-gram set of the two, so a record that copies
        an evaluation item and adds words is caught as well as one that copies part of it.
        """
        key = normalize(text)
        if key and key in self._exact:
            return "exact", self._exact[key], 1.0
        grams = ngrams(text, self.n)
        if not grams:
            return None
        shared: Counter[int] = Counter()
        for gram in grams:
            shared.update(self._index.get(gram, ()))
        best: tuple[ContaminationReason, int, float] | None = None
        for i, count in shared.items():
            overlap = count / min(len(grams), self._sizes[i])
            if overlap > self.threshold and (best is None or overlap > best[2]):
                best = ("ngram", i, round(overlap, 4))
        return best

    def check(self, record: EvidenceRecord) -> Contamination | None:
        hit = self.check_text(record.query)
        return Contamination(reason=hit[0], eval_index=hit[1], overlap=hit[2]) if hit else None


# SFT export ----------------------------------------------------------------------------------
class ExportReport(BaseModel):
    path: str
    scorer_version: str
    considered: int
    written: int
    contaminated: int
    contaminated_by_reason: dict[str, int]
    excluded_by_category: dict[str, int]
    duplicates: int
    categories: list[str]
    # ratings a newer verdict on the same (query, corpus, id) overruled: a good rating later rated
    # wrong is no gold example (the rule `adapt` trains by)
    superseded: int = 0


def _rated_pair(record: EvidenceRecord) -> tuple[str, str | None, str] | None:
    """The (query, corpus, id) a rating's record judges; None for any other evidence."""
    if record.meta.get("kind") != "rating" or "hit_id" not in record.meta:
        return None
    return pair_key(record.query, record.meta.get("corpus"), record.meta["hit_id"])


def _rated_at(record: EvidenceRecord) -> datetime | None:
    try:
        return datetime.fromisoformat(record.meta["ts"]) if "ts" in record.meta else None
    except ValueError:  # a hand-edited time: the record's place in the log decides
        return None


def sft_example(record: EvidenceRecord, system_prompt: str | None) -> dict:
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages += [{"role": "user", "content": record.query}, {"role": "assistant", "content": record.answer}]
    return {"messages": messages}


def export_sft(
    records: Iterable[EvidenceRecord],
    out: Path | str,
    *,
    firewall: Firewall,
    scorer_version: str = LATEST_SCORER,
    categories: Iterable[str] = ("gold",),
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
) -> ExportReport:
    """Score, firewall, de-duplicate and write the kept records; the report counts every drop."""
    wanted = list(dict.fromkeys(categories))
    unknown = [c for c in wanted if c not in CATEGORIES]
    if unknown:
        raise DistillError(f"unknown categories {unknown}; choose from {', '.join(CATEGORIES)}")
    current, superseded = newest_only(records, _rated_pair, _rated_at)
    scored = score_all(current, scorer_version)
    rows: list[dict] = []
    seen: set[tuple[str, str]] = set()
    excluded: Counter[str] = Counter()
    contaminated: Counter[str] = Counter()
    duplicates = 0
    for item in scored:
        # The firewall runs first and on everything, so the count reflects every copied record.
        hit = firewall.check(item.record)
        if hit:
            contaminated[hit.reason] += 1
            continue
        if item.category not in wanted:
            excluded[item.category] += 1
            continue
        key = (normalize(item.record.query), normalize(item.record.answer))
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        rows.append(sft_example(item.record, system_prompt))
    path = write_json_lines_atomic(out, rows)
    return ExportReport(
        path=str(path),
        scorer_version=scorer_version,
        considered=len(scored) + superseded,
        written=len(rows),
        contaminated=sum(contaminated.values()),
        contaminated_by_reason=dict(sorted(contaminated.items())),
        excluded_by_category=dict(sorted(excluded.items())),
        duplicates=duplicates,
        categories=wanted,
        superseded=superseded,
    )
