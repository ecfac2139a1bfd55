"""`POST /v1/matrix/feedback`: a coordinator's verdict on a match, one rating or a batch.

Runs mode `matrix.feedback` (source `http`): each rating becomes a playbook entry and an evidence
record. The body is one rating object or `{"ratings": [...]}` (at most 10,000); a file path is not
taken here (HTTP callers send the rows). Any bad rating stores nothing: an unknown corpus or hit id
is a 404, anything else a 400 or 422, each naming the row and field.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from flows.http.calls import call_mode
from flows.http.limits import http_model
from lakehouse.learning.errors import RatingError
from lakehouse.learning.ratings import BY_MAX_CHARS, NOTE_MAX_CHARS, Rating, RatingId, RatingsOut, Timestamp, Verdict
from modes.catalog.feedback import MAX_RATINGS


def _stripped(value: str) -> str:
    value = value.strip()
    if not value:
        raise RatingError("must not be blank")  # a ValueError: pydantic names the field
    return value


def _exact(value: str) -> str:
    # an id is compared exactly (the corpus stores it unstripped): only a blank one is refused
    if not value.strip():
        raise RatingError("must not be blank")  # a ValueError: pydantic names the field
    return value


# Strict JSON, as the schema says: text is a string with a non-space character (a number is not
# taken for an id), a verdict is "good" or "bad" (files may also say 1/0, true/false).
# (Python's strip() also takes \x1c-\x1f and \x85 for space, which JSON Schema's \s does not.)
Text = Annotated[str, AfterValidator(_stripped), Field(json_schema_extra={"pattern": r"[^\s\x1c-\x1f\x85]"})]
Id = Annotated[str, AfterValidator(_exact), Field(json_schema_extra={"pattern": r"[^\s\x1c-\x1f\x85]"})]
Who = Annotated[str, Field(max_length=BY_MAX_CHARS)]
Note = Annotated[str, Field(max_length=NOTE_MAX_CHARS)]
_SINGLE = ("query", "corpus", "id", "verdict", "by", "note", "ts", "rating_id")
_ONE_OF: list[Any] = [
    {
        "required": ["query", "corpus", "id", "verdict"],
        "properties": {"ratings": {"type": "null"}} | {name: {"type": "string"} for name in _SINGLE[:4]},
    },
    {
        "required": ["ratings"],
        "properties": {"ratings": {"type": "array"}} | {name: {"type": "null"} for name in _SINGLE},
    },
]


class HttpRating(Rating):
    query: Text
    corpus: Text
    id: Id
    verdict: Verdict
    by: Who | None = None
    note: Note | None = None


class FeedbackBody(BaseModel):
    """One rating (query, corpus, id, verdict[, by, note, ts, rating_id]) or `ratings`, a list of them.
    A batch is idempotent (a rating's id is its `rating_id`, else a hash of query, corpus, id,
    verdict, by and ts): re-sending it stores nothing twice."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": _ONE_OF})
    query: Text | None = None
    corpus: Text | None = None
    id: Id | None = None
    verdict: Verdict | None = None
    by: Who | None = None
    note: Note | None = None
    ts: Timestamp | None = None
    rating_id: RatingId | None = None
    ratings: list[HttpRating] | None = Field(default=None, min_length=1, max_length=MAX_RATINGS)

    @model_validator(mode="after")
    def _one_or_many(self) -> FeedbackBody:
        single = [name for name in _SINGLE if getattr(self, name) is not None]
        if self.ratings is not None and single:
            raise ValueError("give either `ratings` or one rating's fields, not both")
        if self.ratings is None:
            missing = [k for k in ("query", "corpus", "id", "verdict") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"missing {', '.join(missing)} (or give `ratings` for a batch)")
        return self


Body = http_model(FeedbackBody)


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v1/matrix", tags=["matrix"])

    @router.post(
        "/feedback",
        summary="Rate matches: each rating becomes a playbook entry and an evidence record",
        responses={200: {"model": RatingsOut}},
    )
    def feedback(request: Request, body: Body) -> JSONResponse:  # type: ignore[valid-type]
        """Answers `{recorded, duplicates, evidence_path, results: [{index, id, status, playbook,
        evidence}]}` (mode `matrix.feedback`). All or nothing: a bad rating stores none of the batch."""
        checked: BaseModel = body
        payload: dict[str, Any] = checked.model_dump(mode="json", exclude_none=True)
        return JSONResponse(call_mode(request, "matrix.feedback", payload))

    return router
