"""Corpus and matrix-search modes: `corpus.build`, `matrix.search`, `matrix.relevance`, `matrix.downgrade`."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lakehouse.search.matrix import Hit, downgrade_gate, relevance_filter
from lakehouse.search.vectors import CorpusError, SourceSpec
from modes.context import ModeContext
from modes.registry import mode


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HitModel(BaseModel):
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


class DecisionModel(BaseModel):
    mode: str
    corpora: list[str]
    reason: str
    model: str | None = None
    forced: bool = False


# corpus.build -------------------------------------------------------------------------------
class CorpusBuildIn(_In):
    name: str
    table: str
    text_cols: list[str] = Field(min_length=1)
    id_col: str
    metadata_cols: list[str] = Field(default_factory=list)
    where: str | None = None
    model: str | None = None
    rebuild: bool = False


class CorpusBuildOut(BaseModel):
    corpus: str
    status: str
    added: int
    count: int
    skipped: int
    manifest: dict[str, Any]


@mode("corpus.build")
def corpus_build(inp: CorpusBuildIn, ctx: ModeContext) -> CorpusBuildOut:
    """Embed a table into a corpus; if it exists with the same source, index only the new rows."""
    corpora = ctx.lakehouse.corpora
    args = dict(
        table=inp.table, text_cols=inp.text_cols, id_col=inp.id_col, metadata_cols=inp.metadata_cols, where=inp.where
    )
    if corpora.exists(inp.name) and not inp.rebuild:
        manifest = corpora.manifest(inp.name)
        same = manifest.source.same_shape(SourceSpec(**args))
        if not same or (inp.model and inp.model != manifest.model):
            raise CorpusError(
                f"corpus {inp.name!r} exists with another source or model (table {manifest.source.table!r}, "
                f"id {manifest.source.id_col!r}, text {manifest.source.text_cols}, model {manifest.model!r}); "
                "set rebuild: true to replace it"
            )
        result = corpora.add(inp.name)
    else:
        result = corpora.build(inp.name, model=inp.model, replace=inp.rebuild, **args)
    return CorpusBuildOut(
        corpus=result.corpus,
        status=result.status,
        added=result.added,
        count=result.count,
        skipped=len(result.skipped_ids),
        manifest=result.manifest,
    )


# matrix.search ------------------------------------------------------------------------------
class SearchIn(_In):
    query: str = Field(min_length=1)
    corpora: list[str] = Field(min_length=1)
    top_k: int | None = Field(
        default=None, ge=1, le=1000, description="hits per corpus (default Settings.matrix_top_k)"
    )
    top_n: int | None = Field(default=None, ge=1, le=1000, description="hits returned (default Settings.matrix_top_n)")
    filter: dict[str, Any] | None = Field(default=None, description="metadata equality; a list is OR within a key")
    where: str | None = Field(default=None, description="SQL condition on the source table")
    playbooks: bool = True
    relevance: bool | None = None
    model: str | None = Field(default=None, description="the model that will read the hits (downgrade gate)")
    force_mode: bool = False


class SearchOut(BaseModel):
    query: str
    hits: list[HitModel]
    count: int
    metadata_filter_dropped: int
    relevance_dropped: int
    downgrade: DecisionModel
    candidates: int
    playbook_matches: int


@mode("matrix.search")
def matrix_search(inp: SearchIn, ctx: ModeContext) -> SearchOut:
    """Search several corpora at once: merge, filter, boost with playbooks, keep the relevant."""
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
    return DecisionModel(**decision.__dict__)
