"""`ask`: a question answered by a model from matrix-search hits only, its citations checked.

Search (relevance on) -> no relevant hit: say so, no model call -> else the model reads the hits,
numbered, and answers citing their ids (`lakehouse.llm.grounded`) -> each cited id is checked
against the hits; an id that is not among them is flagged as invented, and the answer still returned.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lakehouse.llm.grounded import Source, build_messages, no_relevant_hits, read_answer
from lakehouse.search.matrix import Decision, Hit
from modes.catalog.matrix import SearchIn, matrix_search
from modes.context import ModeContext
from modes.registry import mode

# The tier used when the call names no model and the workflow has none: a configured judge tier
# (the model already trusted to read hits and decide), else [models] default.
JUDGE_TIER = "local_judge"


class AskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1)
    corpora: list[str] = Field(min_length=1)
    top_n: int | None = Field(
        default=None, ge=1, le=100, description="how many relevant hits the model reads at most (default 8)"
    )
    filter: dict[str, Any] | None = Field(default=None, description="metadata equality; a list is OR within a key")
    where: str | None = Field(default=None, description="SQL condition on the source table")
    model: str | None = Field(
        default=None,
        description="tier or provider-prefixed model (default: the workflow's model, else the `local_judge` tier "
        "if configured, else [models] default)",
    )
    force_mode: bool = Field(
        default=False, description="search every corpus whatever the model (default: the downgrade gate decides)"
    )


class Flags(BaseModel):
    invented_ids: list[str] = Field(default_factory=list, description="cited ids that are not among the hits")
    uncited: bool = Field(default=False, description="the model answered without citing any hit")


class AskOut(BaseModel):
    question: str
    answer: str
    citations: list[str] = Field(description="every id the answer cites, in order (invented ones too)")
    cited_hits: list[Hit] = Field(description="the hits the answer cites")
    flagged: Flags
    grounded: bool = Field(description="the answer cites at least one hit and no invented id")
    model: str | None = Field(description="the model that answered; None when none was asked")
    called_llm: bool
    relevant_count: int = Field(description="hits that passed the relevance filter and were given to the model")
    hit_ids: list[str] = Field(description="the ids of those hits, in the order the model read them")
    relevance_dropped: int
    downgrade: Decision
    answer_format: Literal["json", "text", "none"] = Field(
        description="json: the model followed the output contract; text: plain text, cited by [id]; none: no call"
    )
    finish_reason: str | None = None
    usage: dict[str, int] = Field(default_factory=dict)


def _model_name(inp: AskIn, ctx: ModeContext) -> str | None:
    models = ctx.lakehouse.settings.models
    return inp.model or ctx.model or (JUDGE_TIER if JUDGE_TIER in models.tiers else models.default)


@mode("ask")
def ask(inp: AskIn, ctx: ModeContext) -> AskOut:
    """Answer a question from matrix-search hits only, citing hit ids; invented citations are flagged."""
    model = _model_name(inp, ctx)
    search = SearchIn(
        query=inp.question,
        corpora=inp.corpora,
        top_n=inp.top_n,
        filter=inp.filter,
        where=inp.where,
        relevance=True,
        model=model,
        force_mode=inp.force_mode,
    )
    found = matrix_search(search, ctx)
    hits = found.hits
    common: dict[str, Any] = dict(
        question=inp.question,
        relevant_count=len(hits),
        hit_ids=[h.id for h in hits],
        relevance_dropped=found.relevance_dropped,
        downgrade=found.downgrade,
    )
    if not hits:
        return AskOut(
            answer=no_relevant_hits(found.downgrade.corpora, found.candidates, found.relevance_dropped),
            citations=[],
            cited_hits=[],
            flagged=Flags(),
            grounded=False,
            model=None,
            called_llm=False,
            answer_format="none",
            **common,
        )
    # The model is resolved only now: a question nothing answers needs no model at all.
    messages = build_messages(inp.question, [Source.of(h.as_dict()) for h in hits])
    result = ctx.lakehouse.chat.complete(messages, model)
    checked = read_answer(result.content, [h.id for h in hits])
    return AskOut(
        answer=checked.answer,
        citations=checked.citations,
        # two corpora may hold the same id: a cited id cites each hit that has it
        cited_hits=[h for i in checked.cited for h in hits if h.id == i],
        flagged=Flags(invented_ids=checked.invented, uncited=not checked.citations),
        grounded=bool(checked.cited) and not checked.invented,
        model=result.model,
        called_llm=True,
        answer_format=checked.format,
        finish_reason=result.finish_reason,
        usage=result.usage,
        **common,
    )
