"""`matrix.feedback`: record ratings ("hit ID of corpus C was good / wrong for this query").

How a workflow node, `POST /v1/matrix/feedback` and `lakehouse rate` record a verdict: each rating
becomes a playbook entry and an evidence record (`lakehouse/learning/ratings.py`). One rating, a
batch (`ratings`), or a CSV / JSON-lines file of historical placements (`file`); any bad rating
stores nothing and the error names every bad row and field.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lakehouse.learning.ratings import (
    IdText,
    Note,
    Rating,
    RatingId,
    RatingsOut,
    Text,
    Timestamp,
    VerdictValue,
    Who,
    import_ratings,
    record_ratings,
)
from modes.context import ModeContext
from modes.registry import mode

MAX_RATINGS = 10_000
_SINGLE = ("query", "corpus", "id", "verdict", "by", "note", "ts", "rating_id")
_REQUIRED = ("query", "corpus", "id", "verdict")


class FeedbackIn(BaseModel):
    """One rating (query, corpus, id, verdict[, by, note, ts, rating_id]), or `ratings`, a list of
    such objects, or `file`, a .csv / .jsonl of them (columns query, corpus, id, verdict, by, note, ts).

    A batch or a file is idempotent (a rating's id is its `rating_id`, else a hash of query, corpus,
    id, verdict, by and ts): sending it again stores nothing twice. One rating without `ts` is dated
    now, so rating the same match again later is recorded again."""

    model_config = ConfigDict(extra="forbid")
    query: Text | None = Field(default=None, description="what was searched for")
    corpus: Text | None = Field(default=None, description="the corpus the hit came from")
    id: IdText | None = Field(default=None, description="the hit's id in that corpus, exactly (spaces count)")
    verdict: VerdictValue | None = Field(default=None, description="good or bad (also 1/0, true/false)")
    by: Who = Field(default=None, description="who rated")
    note: Note = Field(default=None, description="why (at most 2,000 characters)")
    ts: Timestamp | None = Field(default=None, description="when (ISO 8601); default: now")
    rating_id: RatingId | None = Field(default=None, description="makes recording idempotent")
    ratings: list[Rating] | None = Field(
        default=None, min_length=1, max_length=MAX_RATINGS, description="a batch: each a rating as above"
    )
    file: str | None = Field(default=None, description="a .csv or .jsonl file of ratings")

    @model_validator(mode="after")
    def _one_source(self) -> FeedbackIn:
        single = [name for name in _SINGLE if getattr(self, name) is not None]
        sources = [name for name, given in (("ratings", self.ratings), ("file", self.file)) if given is not None]
        if single and sources:
            raise ValueError(f"give one rating's fields or `{sources[0]}`, not both")
        if len(sources) > 1:
            raise ValueError("give `ratings` or `file`, not both")
        if not sources:
            missing = [name for name in _REQUIRED if getattr(self, name) is None]
            if missing:
                raise ValueError(f"missing {', '.join(missing)} (or give `ratings` for a batch, `file` for a file)")
        return self

    def single(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _SINGLE if getattr(self, name) is not None}


def _source_run(ctx: ModeContext) -> str | None:
    if ctx.run_id is None:
        return None
    return f"{ctx.run_id}/{ctx.node_id}" if ctx.node_id else ctx.run_id


@mode("matrix.feedback")
def feedback(inp: FeedbackIn, ctx: ModeContext) -> RatingsOut:
    """Record ratings of matches: each a playbook entry and an evidence record; all or nothing."""
    lakehouse, run = ctx.lakehouse, _source_run(ctx)
    if inp.file is not None:
        path = ctx.path(inp.file, field="file", cwd_relative=True)
        return import_ratings(lakehouse, path, source=ctx.source, source_run=run)
    if inp.ratings is not None:
        return record_ratings(lakehouse, inp.ratings, source=ctx.source, source_run=run)
    return record_ratings(
        lakehouse, [Rating.model_validate(inp.single())], source=ctx.source, source_run=run, stamp=True
    )
