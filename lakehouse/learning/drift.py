"""Drift, measured rather than guessed.

- Scorer drift: re-score a history with two scorer versions; count the records whose category
  changed and list every (from, to) pair in a shift matrix ordered by count (descending), then
  `from`, then `to`, so the same history always gives byte-identical JSON.
- Playbook drift: for each recorded (query -> answer) good match, is the answer still in today's
  top-k? The search is a callable, so any index (the matrix, a test double of a real index) fits.
  Search with playbook boosting off, or every recorded answer trivially finds itself. Drift is a
  change: an answer outside today's top-k whose index has not changed since it was recorded was
  never in the top-k (a judge may pick beyond it, or a playbook boost surfaced it), so it is
  reported as `not_ranked`, not as drifted.
- Embedding drift: a two-sample Kolmogorov-Smirnov test between two snapshots of a corpus's
  vectors, on a 1-D projection (cosine to the centroid of both snapshots) and per dimension.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from lakehouse.common.jsonl import AppendLog
from lakehouse.common.recordfile import InputFileError, read_json_lines, read_records
from lakehouse.common.validation import format_validation_error
from lakehouse.learning.distill import EvidenceRecord, get_scorer
from lakehouse.learning.errors import DriftError
from lakehouse.learning.verdicts import newest_only, pair_key

log = logging.getLogger(__name__)


def stable_json(value: Any) -> str:
    """The canonical text of a report: sorted keys, no spaces, so equal reports are equal bytes."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


# scorer drift ------------------------------------------------------------------------------
class Shift(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)
    from_: str = Field(alias="from")
    to: str
    count: int


class ScorerDrift(BaseModel):
    old_version: str
    new_version: str
    total: int
    drifted: int
    shift_matrix: list[Shift]
    drifted_examples: list[dict[str, Any]]
    skipped_count: int = 0  # lines of the history that were no evidence record
    skipped: list[str] = []  # the first ten of them, each with its line

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        return stable_json(self.as_dict())


def scorer_drift(
    history: Iterable[EvidenceRecord], old_version: str, new_version: str, *, examples: int = 5
) -> ScorerDrift:
    """Re-score `history` with both versions; `drifted` counts records whose category changed."""
    old, new = get_scorer(old_version), get_scorer(new_version)
    pairs: Counter[tuple[str, str]] = Counter()
    changed: list[dict[str, Any]] = []
    total = 0
    for index, record in enumerate(history):
        total += 1
        before, after = old(record)[0], new(record)[0]
        pairs[(before, after)] += 1
        if before != after and len(changed) < examples:
            changed.append({"index": index, "query": record.query, "from": before, "to": after})
    ordered = sorted(pairs.items(), key=lambda item: (-item[1], item[0][0], item[0][1]))
    return ScorerDrift(
        old_version=old_version,
        new_version=new_version,
        total=total,
        drifted=sum(n for (a, b), n in pairs.items() if a != b),
        shift_matrix=[Shift.model_validate({"from": a, "to": b, "count": n}) for (a, b), n in ordered],
        drifted_examples=changed,
    )


def evidence_history(settings: Any, path: Path, skipped: list[str] | None = None) -> list[EvidenceRecord]:
    """The evidence records at `path`. This home's own log is read as its writers write it: a line
    torn by a crash (or a full disk) is skipped and reported with its line, as the playbook log's
    are, so one unlucky append costs one record, not every later nightly run; with shared state on,
    it is every home's history. Any other file is an input, refused at its first bad line. What was
    skipped is also added to `skipped`, for a report to say (the nightly one said nothing of it)."""
    if not _own_log(settings, path):
        return read_records(path, EvidenceRecord)
    if settings.shared_state_enabled:
        return _shared_records(settings)
    records: list[EvidenceRecord] = []
    skipped = [] if skipped is None else skipped
    evidence_log = AppendLog(path)
    for number, record in enumerate(evidence_log.records(), start=1):
        try:
            records.append(EvidenceRecord.model_validate(record))
        except ValidationError as exc:  # written by hand or by another version: skipped, said
            skipped.append(format_validation_error(exc, f"{path}, record {number}"))
            log.warning("skipped: %s", skipped[-1])
    skipped[:0] = [f"{path}, {bad}" for bad in evidence_log.report.corrupt]  # torn or garbage lines
    if not records:
        why = f"{len(skipped)} skipped, the first: {skipped[0]}" if skipped else "rate matches to record some"
        raise InputFileError(f"{path}: no evidence records ({why})")
    return records


def shared_evidence(settings: Any, path: Path) -> list[EvidenceRecord] | None:
    """The evidence history of every LH_HOME (flushed to `_lh_evidence`) plus this one's unflushed
    records, when `path` is this home's evidence log and shared state is on; else None (read the file)."""
    if not settings.shared_state_enabled or not _own_log(settings, path):
        return None
    return _shared_records(settings)


def _own_log(settings: Any, path: Path) -> bool:
    from lakehouse.data.shared_log import KINDS

    return Path(path).resolve() == KINDS["evidence"].path(settings).resolve()


def _shared_records(settings: Any) -> list[EvidenceRecord]:
    from lakehouse.data.shared_log import SharedLog

    shared = SharedLog(settings, "evidence")
    try:
        return [EvidenceRecord.model_validate(r) for r in shared.records()]
    finally:
        shared.tables.close()


# playbook drift ----------------------------------------------------------------------------
class PlaybookEntry(BaseModel):
    """A recorded good match: this query was answered by this id (in this corpus). The shape of a
    playbook record, so a playbook export or import file can be checked as it is."""

    model_config = ConfigDict(extra="ignore")
    query: str = Field(min_length=1)
    answer: str = Field(min_length=1, validation_alias=AliasChoices("answer", "answer_id"))
    corpus: str | None = None
    score: float | None = None
    ts: datetime | None = None  # when it was recorded (unknown: an answer outside the top k counts as drifted)


def recorded_matches(playbooks: Iterable[Any], corpora: Iterable[str]) -> list[PlaybookEntry]:
    """The recorded good matches of `corpora` that `drift playbook` checks: each (query, corpus,
    answer) by its newest verdict, as `adapt` trains by, so a match rated good, then wrong, is not
    counted as drifted. `playbooks` are the log's entries in the order recorded."""
    wanted = set(corpora)
    current, _ = newest_only(playbooks, lambda p: pair_key(p.query, p.corpus, p.answer), lambda p: p.ts)
    return [
        PlaybookEntry(query=p.query, answer=p.answer, corpus=p.corpus, score=p.score, ts=p.ts)
        for p in current
        if p.corpus in wanted and p.score > 0
    ]


class PlaybookCheck(BaseModel):
    query: str
    answer: str
    corpus: str | None
    rank: int | None  # 1-based rank today, None when outside the top k
    # kept: in today's top k; drifted: outside it and the index changed since the entry was recorded;
    # not_ranked: outside it, but the index is as it was when the entry was recorded (no change, no drift);
    # gone: the corpus no longer holds the answer (deleted from it, or it left the source): not drift
    status: Literal["kept", "drifted", "not_ranked", "gone"]
    top_ids: list[str]


class PlaybookDrift(BaseModel):
    top_k: int
    checked: int
    drifted: int
    drift_rate: float
    not_ranked: int
    drifted_entries: list[PlaybookCheck]
    not_ranked_entries: list[PlaybookCheck]
    entries: list[PlaybookCheck]
    gone: int = 0
    gone_entries: list[PlaybookCheck] = Field(default_factory=list)


Hit = str | Mapping[str, Any]
SearchFn = Callable[[str, int], Sequence[Hit]]


def _hit_key(hit: Hit) -> tuple[str, str | None]:
    if isinstance(hit, str):
        return hit, None
    return str(hit["id"]), hit.get("corpus")


def playbook_drift(
    entries: Iterable[PlaybookEntry],
    search_fn: SearchFn,
    top_k: int = 10,
    changed_since: Callable[[PlaybookEntry], bool] | None = None,
    answer_held: Callable[[PlaybookEntry], bool] | None = None,
) -> PlaybookDrift:
    """Entries whose recorded answer is no longer among today's top `top_k` hits for their query.

    `search_fn(query, top_k)` returns ids or hit dicts with `id` (and `corpus`); an entry that
    names a corpus only matches hits from that corpus. `changed_since(entry)` tells whether the
    index changed after the entry was recorded; when it did not, an answer outside the top k is
    `not_ranked` (today's ranking is the one the entry was recorded against), not drifted.
    `answer_held(entry)` (`answers_held`) tells whether the corpus still holds the answer; when it
    does not, the entry is `gone` (no ranking can hold a deleted row), not drifted.
    """
    if top_k < 1:
        raise DriftError(f"top_k must be at least 1, got {top_k}")
    checks: list[PlaybookCheck] = []
    for entry in entries:
        hits = [_hit_key(h) for h in list(search_fn(entry.query, top_k))[:top_k]]
        rank = next(
            (
                i
                for i, (hid, corpus) in enumerate(hits, start=1)
                if hid == entry.answer and (entry.corpus is None or corpus in (None, entry.corpus))
            ),
            None,
        )
        status: Literal["kept", "drifted", "not_ranked", "gone"] = "kept"
        if rank is None and answer_held is not None and not answer_held(entry):
            status = "gone"
        elif rank is None:
            status = "drifted" if changed_since is None or changed_since(entry) else "not_ranked"
        checks.append(
            PlaybookCheck(
                query=entry.query,
                answer=entry.answer,
                corpus=entry.corpus,
                rank=rank,
                status=status,
                top_ids=[h for h, _ in hits],
            )
        )
    drifted = [c for c in checks if c.status == "drifted"]
    not_ranked = [c for c in checks if c.status == "not_ranked"]
    gone = [c for c in checks if c.status == "gone"]
    return PlaybookDrift(
        gone=len(gone),
        gone_entries=gone,
        top_k=top_k,
        checked=len(checks),
        drifted=len(drifted),
        drift_rate=round(len(drifted) / len(checks), 6) if checks else 0.0,
        not_ranked=len(not_ranked),
        drifted_entries=drifted,
        not_ranked_entries=not_ranked,
        entries=checks,
    )


def answers_held(corpora: Any, names: Iterable[str]) -> Callable[[PlaybookEntry], bool]:
    """For `playbook_drift`: whether the live generation of an entry's corpus (an entry naming
    none: any of `names`) still holds its answer."""
    loaded = {name: corpora.get(name) for name in names}

    def held(entry: PlaybookEntry) -> bool:
        searched = [loaded[entry.corpus]] if entry.corpus in loaded else list(loaded.values())
        return any(corpus.has(entry.answer) for corpus in searched)

    return held


# embedding drift ---------------------------------------------------------------------------
class EmbeddingDrift(BaseModel):
    n_a: int
    n_b: int
    dim: int
    projection: str
    statistic: float
    p_value: float
    dimension_max_statistic: float
    dimension: int
    dimension_p_value: float  # Bonferroni-adjusted over all dimensions
    alpha: float
    drifted: bool
    warnings: list[str] = Field(default_factory=list)


def _check_vectors(name: str, vectors: Any) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float64)
    if array.ndim != 2:
        raise DriftError(f"snapshot {name}: expected a 2-D array (vectors x dimensions), got shape {array.shape}")
    if array.shape[0] < 2:
        raise DriftError(f"snapshot {name}: needs at least 2 vectors for a KS test, got {array.shape[0]}")
    if not np.isfinite(array).all():
        row = int(np.argwhere(~np.isfinite(array))[0][0])
        raise DriftError(f"snapshot {name}: vector {row} contains NaN or infinity")
    return array


def _unit(array: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.where(norms == 0, 1, norms)


def embedding_drift(vectors_a: Any, vectors_b: Any, *, alpha: float = 0.05) -> EmbeddingDrift:
    """KS tests between snapshot A (the reference) and snapshot B.

    Two tests: cosine of each vector to the pooled centroid (one number per vector catches moves of the
    cloud as a whole) and each dimension separately (the largest statistic, Bonferroni-adjusted,
    catches a shift in a few coordinates). `drifted` is either test below alpha / 2.
    """
    if not 0 < alpha < 1:
        raise DriftError(f"alpha must be in (0, 1), got {alpha}")
    a, b = _check_vectors("A", vectors_a), _check_vectors("B", vectors_b)
    if a.shape[1] != b.shape[1]:
        raise DriftError(f"snapshots differ in dimension: A has {a.shape[1]}, B has {b.shape[1]}")
    from scipy.stats import ks_2samp  # here: 0.7 s of CPU in every process that loads the modes

    ua, ub = _unit(a), _unit(b)
    # The centroid of both snapshots, not of A alone: A's own vectors lean towards A's centroid
    # (each helped make it), which shows up as drift between two samples of one distribution.
    centroid = _unit(np.vstack([ua, ub]).mean(axis=0, keepdims=True))[0]
    projected = ks_2samp(ua @ centroid, ub @ centroid)
    per_dim = ks_2samp(a, b, axis=0)
    stats = np.atleast_1d(per_dim.statistic)
    worst = int(np.argmax(stats))
    dim_p = float(min(1.0, np.atleast_1d(per_dim.pvalue)[worst] * a.shape[1]))
    return EmbeddingDrift(
        n_a=a.shape[0],
        n_b=b.shape[0],
        dim=a.shape[1],
        projection="cosine_to_pooled_centroid",
        statistic=round(float(projected.statistic), 6),
        p_value=float(projected.pvalue),
        dimension_max_statistic=round(float(stats[worst]), 6),
        dimension=worst,
        dimension_p_value=dim_p,
        alpha=alpha,
        drifted=bool(projected.pvalue < alpha / 2 or dim_p < alpha / 2),
        warnings=(
            ["snapshots A and B hold identical vectors: 'no drift' is true by construction, not a finding"]
            if a.shape == b.shape and np.array_equal(a, b)
            else []
        ),
    )


def load_vectors(path: Any) -> np.ndarray:
    """A snapshot from `.npy` (a 2-D array) or `.jsonl` (one `{"vector": [...]}` per line)."""
    path = Path(path)
    if path.suffix == ".jsonl":
        rows: list[list[float]] = []
        for number, value in read_json_lines(path):
            vector = value.get("vector") if isinstance(value, dict) else value
            if not isinstance(vector, list) or not all(isinstance(x, (int, float)) for x in vector):
                raise InputFileError(f"{path} line {number}, field 'vector': expected a list of numbers")
            if rows and len(vector) != len(rows[0]):
                raise InputFileError(
                    f"{path} line {number}, field 'vector': {len(vector)} numbers, earlier lines have {len(rows[0])}"
                )
            rows.append(vector)
        if not rows:
            raise InputFileError(f"{path}: no vectors (the file is empty)")
        return np.asarray(rows, dtype=np.float64)
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    if path.suffix != ".npy":
        raise InputFileError(f"{path}: expected a .npy or .jsonl file of vectors")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputFileError(f"{path}: not a readable .npy array ({exc})") from exc
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
        raise InputFileError(f"{path}: expected a 2-D numeric array, got shape {array.shape} of {array.dtype}")
    return array.astype(np.float64)
