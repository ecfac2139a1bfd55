"""Matrix-search modes: `matrix.search`, `matrix.relevance`, `matrix.downgrade` (corpus modes: `corpus.py`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator, model_validator

from lakehouse.common.text import not_blank
from lakehouse.search.matrix import Decision, Hit, downgrade_gate, relevance_filter
from modes.context import ModeContext
from modes.registry import mode


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HitModel(BaseModel):
    """A hit as `matrix.relevance` takes and gives it: the fields of `lakehouse.search.matrix.Hit`,
    but hits may come from elsewhere, without a score or distance yet (search output uses `Hit`)."""

    model_config = ConfigDict(extra="forbid")
    corpus: str
    id: str
    text: str = ""
    score: float | None = None
    distance: float | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    boosted_by: list[str] = Field(default_factory=list)
    raw_score: float | None = None
    boost: float = 0.0
    why: dict[str, Any] | None = None


class DecisionModel(RootModel[Decision]):
    """The downgrade gate's `lakehouse.search.matrix.Decision`, as a mode output."""


# matrix.search ------------------------------------------------------------------------------
class SearchIn(_In):
    query: str = Field(min_length=1)
    corpora: list[str] = Field(min_length=1)
    top_k: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="candidates each corpus contributes before the merge (default 6, at least top_n; more while "
        "the filters leave too few)",
    )
    top_n: int | None = Field(
        default=None, ge=1, le=1000, description="how many hits you get when that many pass the filters (default 8)"
    )
    filter: dict[str, Any] | None = Field(default=None, description="metadata equality; a list is OR within a key")
    where: str | None = Field(default=None, description="SQL condition on the source table")
    playbooks: bool = True
    relevance: bool | None = Field(
        default=None, description="drop hits far below the query or the best hit (default: on)"
    )
    model: str | None = Field(default=None, description="the model that will read the hits (downgrade gate)")
    force_mode: bool = False
    explain: bool = Field(
        default=False,
        description="add `why` to each hit: cosine, playbook vote, memory, the voting neighbours and (an adapted "
        "corpus with a reranker) the ranks the reranker moved it between",
    )

    @field_validator("query")
    @classmethod
    def _query_not_blank(cls, value: str) -> str:
        return not_blank(value)


class SearchOut(BaseModel):
    """`lakehouse.search.matrix.MatrixResult` as a mode output (its hits and decision are the substrate types)."""

    query: str
    hits: list[Hit]
    count: int
    metadata_filter_dropped: int
    relevance_dropped: int
    downgrade: Decision
    candidates: int
    playbook_matches: int
    generations: dict[str, int] = Field(default_factory=dict, description="corpus -> generation searched")


@mode("matrix.search")
def matrix_search(inp: SearchIn, ctx: ModeContext) -> SearchOut:
    """Search several corpora at once: merge, filter, let recorded matches vote, keep the relevant."""
    result = ctx.lakehouse.matrix.search(
        inp.query,
        inp.corpora,
        top_k=inp.top_k,
        top_n=inp.top_n,
        filter=inp.filter,
        where=inp.where,
        use_playbooks=inp.playbooks,
        relevance=inp.relevance,
        model=inp.model or ctx.model,
        force_mode=inp.force_mode,
        explain=inp.explain,
    )
    return SearchOut.model_validate(result.as_dict())


# matrix.relevance ---------------------------------------------------------------------------
class RelevanceIn(_In):
    query: str = Field(min_length=1)
    hits: list[HitModel]
    threshold: float | None = Field(default=None, ge=-1, le=1)
    margin: float | None = Field(default=None, ge=0, le=2)


class RelevanceOut(BaseModel):
    hits: list[HitModel]
    count: int
    dropped: int
    threshold: float
    margin: float


@mode("matrix.relevance")
def matrix_relevance(inp: RelevanceIn, ctx: ModeContext) -> RelevanceOut:
    """Drop hits below the similarity threshold or too far behind the best hit."""
    settings = ctx.lakehouse.settings
    threshold = settings.relevance_threshold if inp.threshold is None else inp.threshold
    margin = settings.relevance_margin if inp.margin is None else inp.margin
    hits = [Hit(**h.model_dump()) for h in inp.hits]
    unscored = [h for h in hits if h.score is None]
    if unscored:
        from lakehouse.search.embed import get_embedder

        embedder = get_embedder(settings.embed_model, settings)
        query = embedder.embed([inp.query])[0]
        for hit, vector in zip(unscored, embedder.embed([h.text for h in unscored]), strict=False):
            hit.score = hit.raw_score = float(np.dot(query, vector))
    kept, dropped = relevance_filter(hits, threshold, margin)
    return RelevanceOut(
        hits=[HitModel(**h.as_dict()) for h in kept],
        count=len(kept),
        dropped=dropped,
        threshold=threshold,
        margin=margin,
    )


# matrix.downgrade ---------------------------------------------------------------------------
class DowngradeIn(_In):
    corpora: list[str] = Field(min_length=1)
    model: str | None = None
    force_mode: bool = False

    @model_validator(mode="after")
    def _names(self) -> DowngradeIn:
        if any(not c for c in self.corpora):
            raise ValueError("corpus names must not be empty")
        return self


@mode("matrix.downgrade")
def matrix_downgrade(inp: DowngradeIn, ctx: ModeContext) -> DecisionModel:
    """Decide composed vs isolated retrieval for a model (and say why)."""
    decision = downgrade_gate(inp.corpora, inp.model or ctx.model, ctx.lakehouse.settings, inp.force_mode)
    return DecisionModel(decision)
