"""Ratings: a coordinator's verdict on a match, "for this query, hit ID of corpus C was good / wrong",
from the CLI, HTTP, a workflow node, or a file of historical placements.

Each rating is stored twice, under one id:
- a playbook entry (good: score +1, bad: -1), so later searches learn from it;
- an `EvidenceRecord` appended to the evidence history (`drift_evidence` under LH_HOME), which
  distillation exports and the nightly scorer drift re-scores. Good is judge score 1.0 and a
  success, bad 0.0 and a failure, latency 0 (a person answered, not the pipeline). The answer is
  `"<id> <first line of the hit's text>"` (`"29-1141.00 Registered Nurses"`), the shape the
  pipeline's evidence has, so an exported SFT example answers with the occupation, not a bare code.
  Who rated, the corpus, the hit id and the surface go in `meta`, never in `flags`: every scorer
  sends a flagged record to review, and a person's verdict is the review.

Every rating of a batch is checked first (its fields, its corpus, its hit id); if any is bad,
nothing is stored and the error lists every bad row with its field. A rating's id is the
`rating_id` it was given, else a hash of what defines it (query, corpus, id, verdict, by, ts), so
importing the same file twice stores each rating once; a single rating without `ts` is stamped
with the current time (`stamp`), so rating the same match again later is a new rating.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from lakehouse.common.jsonl import AppendLog
from lakehouse.common.suggest import did_you_mean
from lakehouse.common.text import is_blank
from lakehouse.common.validation import validation_problems
from lakehouse.data.shared_log import SharedLog
from lakehouse.errors import LakehouseError
from lakehouse.learning.distill import EvidenceRecord
from lakehouse.learning.errors import (
    EvidenceLogUnwritable,
    RatedIdNotFound,
    RatingConflict,
    RatingError,
    RatingsPartlyStored,
    RatingsRejected,
)
from lakehouse.learning.rating_files import read_ratings_file
from lakehouse.search.errors import CorpusError, CorpusNotFound
from lakehouse.search.playbook_entries import ENTRY_ID, judged_at
from lakehouse.search.vectors.source import ID_MAX_CHARS

NOTE_MAX_CHARS = 2_000
BY_MAX_CHARS = 200
MAX_LISTED_PROBLEMS = 50  # a bad 10,000-row file gets the first ones listed and a count of the rest
_HINT_MAX_IDS = 20_000  # "did you mean" over more ids than this costs more than it helps
_HINTED_IDS = 10  # ... and for more unknown ids than this in one batch (a file of the wrong corpus)
_VERDICTS = {"good": "good", "bad": "bad", "1": "good", "0": "bad", "true": "good", "false": "bad"}


def _verdict(value: Any) -> Any:
    if isinstance(value, bool):
        return "good" if value else "bad"
    if isinstance(value, int) and value in (0, 1):
        return "good" if value else "bad"
    if isinstance(value, str) and value.strip().lower() in _VERDICTS:
        return _VERDICTS[value.strip().lower()]
    # a ValueError (a user error): pydantic reports it as the field's problem
    raise RatingError(f"expected good or bad (also 1/0, true/false), got {value!r}")


def _text(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # an id read from JSON as a number
    return value.strip() if isinstance(value, str) else value


def _id_text(value: Any) -> Any:
    # exactly as given: the corpus stores its ids unstripped, and "job1 " is another row than "job1"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _not_blank(value: str) -> str:
    if is_blank(value):
        raise RatingError("must not be blank")
    return value


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else _text(value)


Verdict = Literal["good", "bad"]
VerdictValue = Annotated[Verdict, BeforeValidator(_verdict)]
Text = Annotated[str, BeforeValidator(_text), AfterValidator(_not_blank)]
IdText = Annotated[str, BeforeValidator(_id_text), AfterValidator(_not_blank)]
QUERY_MAX_CHARS, NAME_MAX_CHARS = 4_096, 1_024  # what a search query and a name may be over HTTP
# the length limit applies to the text; a blank value is no value
Who = Annotated[Annotated[str, Field(max_length=BY_MAX_CHARS)] | None, BeforeValidator(_blank_is_none)]
Note = Annotated[Annotated[str, Field(max_length=NOTE_MAX_CHARS)] | None, BeforeValidator(_blank_is_none)]
Timestamp = Annotated[datetime, AfterValidator(judged_at)]
RatingId = Annotated[str, Field(pattern=ENTRY_ID)]


class Rating(BaseModel):
    """One verdict: hit `id` of `corpus` was a good (or a wrong) answer to `query`."""

    model_config = ConfigDict(extra="forbid")
    # as long as a search query may be (a 6 MB query was stored, then held `search --explain` for minutes)
    query: Text = Field(max_length=QUERY_MAX_CHARS, description=f"what was searched for (at most {QUERY_MAX_CHARS:,})")
    corpus: Text = Field(max_length=NAME_MAX_CHARS, description="the corpus the hit came from")
    id: IdText = Field(max_length=ID_MAX_CHARS, description="the hit's id in that corpus, exactly (spaces count)")
    verdict: VerdictValue = Field(description="good or bad (also 1/0, true/false)")
    by: Who = Field(default=None, description="who rated")
    note: Note = Field(default=None, description=f"why (at most {NOTE_MAX_CHARS:,} characters)")
    ts: Timestamp | None = Field(default=None, description="when (ISO 8601), e.g. for a historical placement")
    rating_id: RatingId | None = Field(default=None, description="makes recording idempotent")


class RatingResult(BaseModel):
    index: int  # position in the batch (0-based); files: the line is in `where`
    where: str | None = None
    id: str = Field(description="the rating's id: its playbook entry and evidence record share it")
    status: Literal["recorded", "duplicate"] = Field(description="duplicate: already recorded, nothing stored")
    playbook: Literal["recorded", "duplicate"]
    evidence: Literal["recorded", "duplicate"]


class RatingsOut(BaseModel):
    recorded: int
    duplicates: int
    evidence_path: str
    results: list[RatingResult]
    repeated: int = Field(
        default=0,
        description="of the duplicates, ratings that repeat an earlier one of this batch (the same query, corpus, "
        "id, verdict, by and ts, or the same rating_id): one rating, stored once",
    )


def rating_id(rating: Rating) -> str:
    """The rating's id: the one it was given, else a hash of what defines it."""
    if rating.rating_id:
        return rating.rating_id
    ts = rating.ts.astimezone(UTC).isoformat() if rating.ts is not None else None
    key = json.dumps([rating.query, rating.corpus, rating.id, rating.verdict, rating.by, ts], ensure_ascii=False)
    return "rt-" + hashlib.sha256(key.encode()).hexdigest()[:24]


def evidence_path(settings) -> Path:
    return settings.home_dir / settings.drift_evidence


# checking ------------------------------------------------------------------------------------
Problem = tuple[str, str, str]  # (row, field, problem); row is "" for a single rating


def _label(row: str, field: str, problem: str) -> str:
    where = f"{row}, field {field!r}" if row else f"field {field!r}"
    return f"{where}: {problem}" if field else f"{row}: {problem}" if row else problem


class _Corpora:
    """Each named corpus looked up once per batch: loaded, or why not."""

    def __init__(self, lakehouse) -> None:
        self.lakehouse = lakehouse
        self._seen: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        if name not in self._seen:
            try:
                self._seen[name] = self.lakehouse.corpora.get(name)
            except CorpusNotFound as exc:
                self._seen[name] = exc
            except CorpusError as exc:  # an impossible name
                self._seen[name] = exc
        return self._seen[name]


def _missing_id(corpus, name: str, hit_id: str, hinted: bool) -> str:
    hint = did_you_mean(hit_id, corpus.ids()) if hinted and corpus.count <= _HINT_MAX_IDS else ""
    return f"corpus {name!r} has no id {hit_id!r}{hint}"


def _labels(raw: Sequence[Any], rows: Sequence[str] | None) -> list[str]:
    return list(rows) if rows is not None else ([""] if len(raw) == 1 else [f"row {i + 1}" for i in range(len(raw))])


def _judgement(query: str, hit_id: str, corpus: str, verdict: str) -> str:
    return f"query {query[:60]!r}, id {hit_id!r} of corpus {corpus!r}, verdict {verdict}"


def _differs(rating: Rating, query: str, corpus: str, hit_id: str, verdict: str) -> list[str]:
    pairs = {"query": (rating.query, query), "corpus": (rating.corpus, corpus), "id": (rating.id, hit_id)}
    pairs["verdict"] = (rating.verdict, verdict)
    return [name for name, (new, old) in pairs.items() if new != old]


def check_conflicts(playbooks, ratings: list[Rating], labels: list[str]) -> list[Problem]:
    """A `rating_id` names one rating: another rating under an id already recorded, or under an id
    an earlier row of the batch uses, is a problem (the same rating again is a duplicate, skipped).
    (Ids made from a rating's content cannot name two ratings.)"""
    problems: list[Problem] = []
    first: dict[str, int] = {}
    ids = [rating_id(r) for r in ratings]
    held = playbooks.held(set(ids)) if ids else {}
    for i, (rating, rid) in enumerate(zip(ratings, ids, strict=True)):
        if rid in held:
            entry = held[rid]
            # a rating is a score of exactly +1 or -1; another score under the id is a judge's pick
            old = {1.0: "good", -1.0: "bad"}.get(entry.score, f"score {entry.score:g}")
            differ = _differs(rating, entry.query, entry.corpus, entry.answer, old)
            if differ:
                have = _judgement(entry.query, entry.answer, entry.corpus, old)
                problems.append(
                    (
                        labels[i],
                        "rating_id",
                        f"{rid!r} already names another recorded rating ({have}); this one "
                        f"differs in its {', '.join(differ)}: give it a rating_id of its own",
                    )
                )
            continue
        if rid in first:
            earlier = ratings[first[rid]]
            differ = _differs(rating, earlier.query, earlier.corpus, earlier.id, earlier.verdict)
            if differ:
                named = labels[first[rid]] or "another rating"
                held = _judgement(earlier.query, earlier.id, earlier.corpus, earlier.verdict)
                problems.append(
                    (
                        labels[i],
                        "rating_id",
                        f"{rid!r} also names {named} ({held}); this one differs "
                        f"in its {', '.join(differ)}: give it a rating_id of its own",
                    )
                )
            continue
        first[rid] = i
    return problems


def check_ratings(
    lakehouse, raw: Sequence[Rating | Mapping[str, Any]], rows: Sequence[str] | None = None
) -> tuple[list[Rating], list[Problem], dict[str, type]]:
    """Every rating validated; (ratings, problems, kind of each problem: the error class it came from)."""
    labels = _labels(raw, rows)
    corpora = _Corpora(lakehouse)
    ratings: list[Rating] = []
    valid_labels: list[str] = []
    problems: list[Problem] = []
    kinds: dict[str, type] = {}
    unknown_ids = 0
    for label, item in zip(labels, raw, strict=True):
        try:
            rating = item if isinstance(item, Rating) else Rating.model_validate(item)
        except ValidationError as exc:
            for field, problem in validation_problems(exc):
                problems.append((label, field, problem))
                kinds[f"{label}/{field}"] = RatingsRejected
            continue
        ratings.append(rating)
        valid_labels.append(label)
        corpus = corpora.get(rating.corpus)
        if isinstance(corpus, Exception):
            problems.append((label, "corpus", str(corpus)))
            kinds[f"{label}/corpus"] = CorpusNotFound if isinstance(corpus, CorpusNotFound) else RatingsRejected
        elif not corpus.has(rating.id):
            # counted as they come: a count over `kinds` per row was quadratic (47 s for 50,000 bad ids)
            problems.append((label, "id", _missing_id(corpus, rating.corpus, rating.id, unknown_ids < _HINTED_IDS)))
            kinds[f"{label}/id"] = RatedIdNotFound
            unknown_ids += 1
    named = [(label, r) for label, r in zip(valid_labels, ratings, strict=True) if r.rating_id]
    conflicts = check_conflicts(lakehouse.playbooks, [r for _, r in named], [label for label, _ in named])
    for label, field, problem in conflicts:
        problems.append((label, field, problem))
        kinds[f"{label}/{field}"] = RatingConflict
    if not raw:
        problems.append(("", "", "no ratings given"))
        kinds["/"] = RatingsRejected
    return ratings, problems, kinds


def rejection(problems: list[Problem], kinds: dict[str, type], total: int) -> LakehouseError:
    """One error for all the problems: CorpusNotFound (did you mean...) when every one is an unknown
    corpus, RatedIdNotFound when every one is an unknown id, else RatingsRejected (bad input)."""
    bad_rows = len({row for row, _, _ in problems})
    head = "rating rejected" if total == 1 else f"{bad_rows} of {total} ratings rejected"
    listed = [_label(*p) for p in problems[:MAX_LISTED_PROBLEMS]]
    more = len(problems) - len(listed)
    message = f"{head}, nothing stored: {'; '.join(listed)}" + (f"; and {more} more problems" if more > 0 else "")
    classes = set(kinds.values())
    if classes == {CorpusNotFound}:
        return CorpusNotFound(message, problems=[{"row": r, "field": f, "problem": p} for r, f, p in problems])
    if classes == {RatedIdNotFound}:
        return RatedIdNotFound(message, problems)
    if classes == {RatingConflict}:
        return RatingConflict(message, problems)
    return RatingsRejected(message, problems)


# recording -----------------------------------------------------------------------------------
def _answer_text(corpus, hit_id: str) -> str:
    """`"<id> <first line of the hit's text>"`: the hit as evidence shows an answer."""
    import numpy as np

    hit = corpus.exact_hit(hit_id, np.zeros(corpus.dims, dtype=np.float32))
    title = (hit.text.strip().splitlines() or [""])[0].strip()[:200] if hit is not None else ""
    return f"{hit_id} {title}" if title else hit_id


def _evidence(rating: Rating, rid: str, answer: str, source: str, source_run: str | None) -> EvidenceRecord:
    good = rating.verdict == "good"
    meta = {"kind": "rating", "verdict": rating.verdict, "corpus": rating.corpus, "hit_id": rating.id}
    meta["source"] = source
    if rating.by:
        meta["by"] = rating.by
    if rating.note:
        meta["note"] = rating.note
    if rating.ts is not None:
        meta["ts"] = rating.ts.isoformat()
    return EvidenceRecord(
        id=rid,
        query=rating.query,
        answer=answer,
        judge_score=1.0 if good else 0.0,
        success=good,
        latency_ms=0.0,
        source_run=source_run,
        meta=meta,
    )


def record_ratings(
    lakehouse,
    ratings: Sequence[Rating | Mapping[str, Any]],
    *,
    source: str,
    source_run: str | None = None,
    rows: Sequence[str] | None = None,
    stamp: bool = False,
) -> RatingsOut:
    """Check every rating, then store each as a playbook entry and an evidence record.

    Any bad rating: nothing is stored and the error lists every problem (`rows` names them, e.g.
    `placements.csv line 4`; default `row N`). `stamp`: a rating without `ts` is dated now (one
    interactive rating), else it keeps no date and its id stays the same on a re-import."""
    checked, problems, kinds = check_ratings(lakehouse, ratings, rows)
    if problems:
        raise rejection(problems, kinds, len(ratings))
    labels: list[str | None] = list(rows) if rows is not None else [None] * len(checked)
    if stamp:
        now = datetime.now(UTC)
        checked = [r if r.ts is not None else r.model_copy(update={"ts": now}) for r in checked]
    ids = [rating_id(r) for r in checked]
    corpora = _Corpora(lakehouse)
    answers = [_answer_text(corpora.get(r.corpus), r.id) for r in checked]
    entries = [
        {"id": rid, "query": r.query, "answer": r.id, "corpus": r.corpus, "score": 1.0 if r.verdict == "good" else -1.0}
        | ({"ts": r.ts} if r.ts is not None else {})
        for r, rid in zip(checked, ids, strict=True)
    ]
    _check_evidence_log(evidence_path(lakehouse.settings))
    stored = lakehouse.playbooks.record_many(entries, idempotent=True)
    # checked above: a conflict now is a rating recorded meanwhile by another writer under the id
    conflicts = [r for r in stored["results"] if r.get("status") == "conflict"]
    failed = [r for r in stored["results"] if "error" in r and r.get("status") != "conflict"]
    if failed:  # a failed write: a re-run stores what is missing, once
        first = failed[0]
        # "the others were stored" when there were none sent a user looking for ratings that are not there
        rest = (
            "the others were stored: run it again to store the rest once"
            if len(failed) < len(entries)
            else "nothing was stored: run it again once that is fixed"
        )
        raise RatingError(
            f"could not store {len(failed)} of {len(entries)} ratings as playbooks ({first['error']}); {rest}"
        )
    if conflicts:  # the others were stored: their evidence goes in before the conflict is raised
        lost = {r["index"] for r in conflicts}
        keep = [i for i in range(len(checked)) if i not in lost]
        stored["results"] = [stored["results"][i] for i in keep]
        checked, ids, answers = [checked[i] for i in keep], [ids[i] for i in keep], [answers[i] for i in keep]
        shown = _labels(entries, rows)
        problems = [(shown[r["index"]] or f"row {r['index'] + 1}", "rating_id", r["error"]) for r in conflicts]
        labels = [labels[i] for i in keep]
    playbook_status = ["duplicate" if r.get("status") == "duplicate" else "recorded" for r in stored["results"]]
    path = evidence_path(lakehouse.settings)
    log = AppendLog(path)
    # with shared state on, every LH_HOME's flushed evidence ids count too
    shared = SharedLog.maybe(lakehouse.settings, "evidence", path=path, tables=lambda: lakehouse.tables)
    evidence_status: list[Literal["recorded", "duplicate"]] = []
    try:
        with log.exclusive():  # check-then-append as one step across processes
            known = {rec.get("id") for rec in (shared.records() if shared else log.records()) if rec.get("id")}
            for rating, rid, answer in zip(checked, ids, answers, strict=True):
                if rid in known:
                    evidence_status.append("duplicate")
                    continue
                record = _evidence(rating, rid, answer, source, source_run)
                log.append(record.model_dump(mode="json"))
                known.add(rid)
                evidence_status.append("recorded")
    except OSError as exc:
        raise _partly_stored(ids, len(evidence_status), path, exc) from exc
    results = [
        RatingResult(
            index=i,
            where=labels[i],
            id=rid,
            status="duplicate" if playbook_status[i] == evidence_status[i] == "duplicate" else "recorded",
            playbook=playbook_status[i],  # type: ignore[arg-type]
            evidence=evidence_status[i],
        )
        for i, rid in enumerate(ids)
    ]
    if conflicts:
        raise RatingConflict(
            f"{len(conflicts)} of {len(entries)} ratings conflict with ratings another writer recorded meanwhile "
            f"under their rating_id ({'; '.join(_label(*p) for p in problems[:MAX_LISTED_PROBLEMS])}); the other "
            f"{len(results)} were stored with their evidence",
            problems,
        )
    recorded = sum(r.status == "recorded" for r in results)
    repeated = len(ids) - len(set(ids))
    return RatingsOut(
        recorded=recorded,
        duplicates=len(results) - recorded,
        evidence_path=str(path),
        results=results,
        repeated=repeated,
    )


def _check_evidence_log(path: Path) -> None:
    """EvidenceLogUnwritable unless the evidence log opens for appending (made when missing):
    checked before the playbook entries go in, since a rating whose evidence then failed still
    voted, and a plain retry (a new time, a new id) voted again."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
    except OSError as exc:
        raise EvidenceLogUnwritable(str(path), exc.strerror or str(exc)) from exc


def _partly_stored(ids: list[str], done: int, path: Path, exc: OSError) -> RatingsPartlyStored:
    """The playbook entries are in; the evidence of `ids[done:]` is not: say so, and how to finish."""
    missing = ids[done:]
    again = (
        f"send it again with rating_id {missing[0]} (--rating-id)" if len(ids) == 1 else "send the same ratings again"
    )
    return RatingsPartlyStored(
        f"the evidence log {path} could not be written ({exc.strerror or exc}): {len(missing)} rating(s) are "
        f"stored as playbook entries without their evidence record ({', '.join(missing[:5])}"
        f"{', …' if len(missing) > 5 else ''}); fix the log, then {again}: nothing is stored twice",
        missing,
        str(path),
    )


def import_ratings(lakehouse, path: Path | str, *, source: str, source_run: str | None = None) -> RatingsOut:
    """Record a file of historical placements; re-importing it stores nothing twice."""
    labels, rows = read_ratings_file(path)
    return record_ratings(lakehouse, rows, source=source, source_run=source_run, rows=labels)
