"""Pathway memory modes: add, import, update, revise, retire, history and search of versioned traces."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lakehouse.common.batches import all_conflicts, nothing_stored
from lakehouse.learning.errors import PathwayConflict, PathwayError
from lakehouse.learning.pathway import History, PathwayHit, Trace
from modes.context import ModeContext
from modes.registry import mode


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AddIn(_In):
    text: str = Field(min_length=1)
    metadata: dict[str, Any] = Field(default_factory=dict)
    id: str | None = None


class ImportIn(_In):
    entries: list[Any] = Field(min_length=1, description="each {text, metadata?, id?}; each succeeds or fails alone")


class ImportResult(BaseModel):
    index: int
    id: str | None = None
    status: Literal["added", "duplicate", "conflict", "failed"]
    error: str | None = None


class ImportOut(BaseModel):
    added: int
    skipped: int = Field(description="entries already in memory (duplicates): nothing written")
    failed: int
    results: list[ImportResult]


class UpdateIn(_In):
    id: str
    text: str | None = None
    metadata: dict[str, Any] | None = None


class ReviseIn(_In):
    id: str
    text: str = Field(min_length=1)
    metadata: dict[str, Any] | None = None
    new_id: str | None = None


class RetireIn(_In):
    id: str
    reason: str | None = None


class HistoryIn(_In):
    id: str


class SearchIn(_In):
    query: str = Field(min_length=1)
    top_k: int = Field(default=5, ge=1, le=1000)
    where: dict[str, Any] = Field(default_factory=dict)


class TraceOut(BaseModel):
    trace: Trace


class HistoryOut(History):
    problems: list[str] = Field(default_factory=list)


class SearchOut(BaseModel):
    hits: list[PathwayHit]
    count: int


@mode("pathway.add")
def add(inp: AddIn, ctx: ModeContext) -> TraceOut:
    """Add a trace (version 1) to pathway memory."""
    return TraceOut(trace=ctx.lakehouse.pathway.add(inp.text, inp.metadata, trace_id=inp.id))


@mode("pathway.import")
def import_(inp: ImportIn, ctx: ModeContext) -> ImportOut:
    """Add many traces, idempotently: an entry without `id` gets a hash of its text and metadata as
    id, and an id already in memory with the same content is skipped (`duplicate`), so re-running
    an import that was cut short adds every trace exactly once. An id that names a trace with other
    text or metadata is a `conflict`; a batch of which every entry failed is the call's error."""
    result = ctx.lakehouse.pathway.add_many(inp.entries)
    refused = nothing_stored(result["results"], len(inp.entries))
    if refused is not None:
        if all_conflicts(result["results"]):
            raise PathwayConflict(refused, results=result["results"][:100])
        raise PathwayError(refused, results=result["results"][:100])
    return ImportOut.model_validate(result)


@mode("pathway.update")
def update(inp: UpdateIn, ctx: ModeContext) -> TraceOut:
    """Change a trace's text or metadata in place (no new version; metadata keys are merged)."""
    return TraceOut(trace=ctx.lakehouse.pathway.update(inp.id, text=inp.text, metadata=inp.metadata))


@mode("pathway.revise")
def revise(inp: ReviseIn, ctx: ModeContext) -> TraceOut:
    """Write a new version of a trace, linked to the old one, which leaves search."""
    return TraceOut(trace=ctx.lakehouse.pathway.revise(inp.id, inp.text, inp.metadata, new_id=inp.new_id))


@mode("pathway.retire")
def retire(inp: RetireIn, ctx: ModeContext) -> TraceOut:
    """Retire a trace: it stays in the log and its history, but never comes back from search."""
    return TraceOut(trace=ctx.lakehouse.pathway.retire(inp.id, reason=inp.reason))


@mode("pathway.history")
def history(inp: HistoryIn, ctx: ModeContext) -> HistoryOut:
    """Walk a trace's revise chain back to its first version; loops and broken links are reported."""
    memory = ctx.lakehouse.pathway
    found = memory.history(inp.id)
    return HistoryOut(**found.model_dump(), problems=memory.problems)


@mode("pathway.search")
def search(inp: SearchIn, ctx: ModeContext) -> SearchOut:
    """Semantic search over active traces, after an equality metadata filter."""
    hits = ctx.lakehouse.pathway.search(inp.query, top_k=inp.top_k, where=inp.where)
    return SearchOut(hits=hits, count=len(hits))
