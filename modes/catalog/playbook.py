"""Playbook modes: `playbook.record` (one entry or a batch) and `playbook.lookup`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lakehouse.common.batches import all_conflicts, nothing_stored
from lakehouse.common.suggest import did_you_mean
from lakehouse.search.errors import CorpusNotFound, PlaybookConflict, PlaybookError
from lakehouse.search.playbook_entries import ENTRY_ID
from modes.context import ModeContext
from modes.registry import mode


class RecordIn(BaseModel):
    """Either one entry (query, answer, corpus, score) or `entries`, a list of such objects.

    A batch is idempotent: an entry's id is its `id`, else a hash of query, answer, corpus, score
    and ts, and an id already recorded with the same query, answer, corpus and score is skipped
    (`status: duplicate`), so a batch re-sent after a crash or a timeout stores each entry once; an
    id that names another judgement fails (`status: conflict`). One entry with an `id` is
    idempotent too."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(default=None, pattern=ENTRY_ID)
    query: str | None = None
    answer: str | None = None
    corpus: str | None = None
    score: float | None = None
    ts: datetime | None = None
    entries: list[Any] | None = None

    @model_validator(mode="after")
    def _one_or_many(self) -> RecordIn:
        single = [self.query, self.answer, self.corpus, self.score]
        if self.entries is not None and any(v is not None for v in single):
            raise ValueError("give either `entries` or one entry's query/answer/corpus/score, not both")
        if self.entries is None and any(v is None for v in single):
            missing = [n for n, v in zip(("query", "answer", "corpus", "score"), single, strict=False) if v is None]
            raise ValueError(f"missing {', '.join(missing)} (or give `entries` for a batch)")
        return self


class RecordResult(BaseModel):
    index: int
    id: str | None = None
    error: str | None = None
    status: str | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="`duplicate`: the id was already recorded with this judgement; `conflict`: the id "
        "names another judgement (see `error`); nothing stored either way",
    )


class RecordOut(BaseModel):
    recorded: int
    failed: int
    skipped: int = Field(default=0, description="entries already recorded (duplicates), not stored again")
    results: list[RecordResult]


@mode("playbook.record")
def playbook_record(inp: RecordIn, ctx: ModeContext) -> RecordOut:
    """Record judged answers: each entry of `entries` succeeds or fails on its own; one entry that
    cannot be recorded is the call's error (an unknown corpus or answer, a score outside [-1, 1], an
    id that names another judgement), and so is a batch of which every entry failed."""
    if inp.entries is not None:
        items = inp.entries
    else:
        items = [{k: v for k, v in inp.model_dump(exclude={"entries"}).items() if v is not None}]
        ctx.lakehouse.playbooks.check(items[0])
    result = ctx.lakehouse.playbooks.record_many(items, idempotent=inp.entries is not None)
    refused = nothing_stored(result["results"], len(items))
    if refused is not None:
        if all_conflicts(result["results"]):
            raise PlaybookConflict(refused, results=result["results"][:100])
        raise PlaybookError(refused, results=result["results"][:100])
    return RecordOut.model_validate(result)


class LookupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1)
    corpora: list[str] | None = None
    min_similarity: float | None = Field(default=None, ge=-1, le=1)
    limit: int = Field(default=10, ge=1, le=1000)


class PlaybookMatchOut(BaseModel):
    id: str
    query: str
    answer: str
    corpus: str
    score: float
    ts: str
    similarity: float
    weight: float


class LookupOut(BaseModel):
    matches: list[PlaybookMatchOut]
    count: int


@mode("playbook.lookup")
def playbook_lookup(inp: LookupIn, ctx: ModeContext) -> LookupOut:
    """Recorded entries whose query is similar to this one, most similar first."""
    store = ctx.lakehouse.playbooks
    # a typo answered "no matches", as if the corpus had none; a dropped corpus's entries still count
    known = ctx.lakehouse.corpora.names() if inp.corpora else []
    unknown = [c for c in inp.corpora or [] if c not in known and not store.keeps([c])]
    if unknown:
        raise CorpusNotFound(
            f"corpus {unknown[0]!r} not found and no playbook entry names it{did_you_mean(unknown[0], known)} "
            f"(corpora: {', '.join(known) or 'none'})"
        )
    vector = store.embedder.embed([inp.query])[0]
    matches = store.lookup(vector, inp.corpora, min_similarity=inp.min_similarity, limit=inp.limit)
    out = [
        PlaybookMatchOut(**m.playbook.public(), similarity=round(m.similarity, 6), weight=round(m.weight, 6))
        for m in matches
    ]
    return LookupOut(matches=out, count=len(out))
