"""Corpus modes: `corpus.build`, `corpus.add`, `corpus.delete`, `corpus.rebuild`, `corpus.drop`,
`corpus.list`, `corpus.show`, `corpus.generations`, `corpus.promote`, `corpus.rollback` — the
vector corpora of the search wing, one HNSW index each, every commit a generation.

The `lakehouse corpus …` commands run these through `invoke_mode`, so a CLI call leaves the same
ObservedOp audit row as a workflow node or an HTTP call.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lakehouse.common.progress import Progress
from lakehouse.search.vectors import CorpusError, SourceSpec
from lakehouse.search.vectors.manifest import TITLE_AUTO, resolve_title
from modes.context import ModeContext
from modes.registry import mode

# A caller that runs `corpus.build` / `corpus.add` through `invoke_mode` (the CLI) reports embedding
# progress through this: ("embedding", texts embedded so far, texts to embed).
PROGRESS: ContextVar[Progress | None] = ContextVar("lakehouse_corpus_progress", default=None)
SKIPPED_SHOWN = 20  # skipped ids listed in an output (all of them are counted)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CorpusBuildOut(BaseModel):
    corpus: str
    status: str = Field(description="created | replaced | added | updated | up_to_date | rebuilt")
    added: int
    count: int
    skipped: int = Field(description="rows without text, not indexed")
    skipped_ids: list[str] = Field(default_factory=list, description=f"the first {SKIPPED_SHOWN} skipped ids")
    manifest: dict[str, Any]


def _build_out(result: Any) -> CorpusBuildOut:
    return CorpusBuildOut(
        corpus=result.corpus,
        status=result.status,
        added=result.added,
        count=result.count,
        skipped=len(result.skipped_ids),
        skipped_ids=result.skipped_ids[:SKIPPED_SHOWN],
        manifest=result.manifest,
    )


class CorpusName(_In):
    name: str


# corpus.build -------------------------------------------------------------------------------
class CorpusBuildIn(_In):
    name: str
    table: str
    text_cols: list[str] = Field(min_length=1)
    id_col: str
    metadata_cols: list[str] = Field(default_factory=list)
    where: str | None = None
    model: str | None = None
    title: str = Field(
        default=TITLE_AUTO,
        description="a short name-like column also embedded on its own and averaged into each row's vector: "
        "`auto` = the first text column when there are two or more (an existing corpus keeps its own), "
        "`none` = off, or a column name",
    )
    rebuild: bool = Field(default=False, description="replace an existing corpus of this name")
    if_exists: Literal["add", "fail"] = Field(
        default="add",
        description="an existing corpus (and no `rebuild`): `add` indexes only its new rows (same source and "
        "model, else an error); `fail` refuses",
    )


@mode("corpus.build")
def corpus_build(inp: CorpusBuildIn, ctx: ModeContext) -> CorpusBuildOut:
    """Embed a table into a corpus; if it exists with the same source, index only the new rows."""
    corpora = ctx.lakehouse.corpora
    args: dict[str, Any] = dict(  # the source: SourceSpec fields, also `build` keywords
        table=inp.table, text_cols=inp.text_cols, id_col=inp.id_col, metadata_cols=inp.metadata_cols, where=inp.where
    )
    progress = PROGRESS.get()
    if inp.if_exists == "add" and not inp.rebuild and corpora.exists(inp.name):
        manifest = corpora.manifest(inp.name)
        title = manifest.source.title_col if inp.title == TITLE_AUTO else resolve_title(inp.title, inp.text_cols)
        differences = manifest.source.differences(SourceSpec(**args, title_col=title))
        if inp.model and inp.model != manifest.model:
            differences.append(f"model {manifest.model!r} -> {inp.model!r}")
        if differences:
            raise CorpusError(
                f"corpus {inp.name!r} exists with another source or model (as built -> as asked: "
                f"{', '.join(differences)}); replace it with `rebuild: true` (a workflow or HTTP call) or "
                "`lakehouse corpus build ... --replace`, or build under another name"
            )
        result = corpora.add(inp.name, progress=progress)
    else:
        result = corpora.build(
            inp.name, model=inp.model, replace=inp.rebuild, progress=progress, title_col=inp.title, **args
        )
    return _build_out(result)


# corpus.add ---------------------------------------------------------------------------------
@mode("corpus.add")
def corpus_add(inp: CorpusName, ctx: ModeContext) -> CorpusBuildOut:
    """Bring a corpus up to date with its source table: index new rows, embed changed rows again and take
    out rows that left the table (ids removed with `corpus delete` stay out)."""
    return _build_out(ctx.lakehouse.corpora.add(inp.name, progress=PROGRESS.get()))


# corpus.delete ------------------------------------------------------------------------------
class CorpusDeleteIn(_In):
    name: str
    ids: list[str] = Field(description="ids to remove from search (none: nothing to do)")


class CorpusDeleteOut(BaseModel):
    corpus: str
    deleted: int
    count: int


@mode("corpus.delete")
def corpus_delete(inp: CorpusDeleteIn, ctx: ModeContext) -> CorpusDeleteOut:
    """Remove rows from search (marked deleted in the index; `corpus.rebuild` compacts)."""
    return CorpusDeleteOut(**ctx.lakehouse.corpora.delete(inp.name, inp.ids))


# corpus.rebuild -----------------------------------------------------------------------------
@mode("corpus.rebuild")
def corpus_rebuild(inp: CorpusName, ctx: ModeContext) -> CorpusBuildOut:
    """Rebuild the index from the stored vectors with the current HNSW settings (no re-embedding)."""
    return _build_out(ctx.lakehouse.corpora.rebuild(inp.name))


# corpus.drop --------------------------------------------------------------------------------
class CorpusDropOut(BaseModel):
    corpus: str
    dropped: bool
    count: int


@mode("corpus.drop")
def corpus_drop(inp: CorpusName, ctx: ModeContext) -> CorpusDropOut:
    """Delete a corpus: index files, manifest and corpus table (the source table stays)."""
    return CorpusDropOut(**ctx.lakehouse.corpora.drop(inp.name))


# corpus.list --------------------------------------------------------------------------------
class CorpusListIn(_In):
    pass


class CorpusRow(BaseModel):
    """A corpus; its manifest's fields are None when it is `unavailable` (the reason)."""

    name: str
    count: int | None
    model: str | None
    dims: int | None
    table: str | None
    updated_at: str | None
    unavailable: str | None = None


class CorpusListOut(BaseModel):
    corpora: list[CorpusRow]
    count: int


@mode("corpus.list")
def corpus_list(inp: CorpusListIn, ctx: ModeContext) -> CorpusListOut:
    """List corpora with their size, model and source table."""
    rows = ctx.lakehouse.corpora.list()
    return CorpusListOut(corpora=[CorpusRow(**row) for row in rows], count=len(rows))


# corpus.show --------------------------------------------------------------------------------
class CorpusShowOut(BaseModel):
    """The corpus manifest: model, dims, HNSW params, source table and snapshot, count, ..."""

    model_config = ConfigDict(extra="allow")
    name: str
    count: int
    model: str
    dims: int


@mode("corpus.show")
def corpus_show(inp: CorpusName, ctx: ModeContext) -> CorpusShowOut:
    """Show a corpus manifest: model, dims, HNSW params, source table and snapshot, count."""
    return CorpusShowOut.model_validate(ctx.lakehouse.corpora.show(inp.name))


# corpus.generations -------------------------------------------------------------------------
class GenerationRow(BaseModel):
    generation: int
    live: bool
    created_at: str = Field(description="when the generation was committed")
    count: int
    model: str
    adapter: dict[str, Any] | None = Field(description="the query adapter's metadata; None: no adapter")
    reason: str = Field(description="build | replace | add | delete | rebuild | adapt | ...")
    parent: int | None = Field(description="the generation it was made from")
    index_key: str


class CorpusGenerationsOut(BaseModel):
    corpus: str
    live: int
    generations: list[GenerationRow] = Field(description="newest first")


@mode("corpus.generations")
def corpus_generations(inp: CorpusName, ctx: ModeContext) -> CorpusGenerationsOut:
    """List a corpus's kept generations, newest first, and which one is live."""
    rows = ctx.lakehouse.corpora.generations(inp.name)
    live = next(row["generation"] for row in rows if row["live"])
    return CorpusGenerationsOut(corpus=inp.name, live=live, generations=[GenerationRow(**row) for row in rows])


# corpus.promote / corpus.rollback -----------------------------------------------------------
EXPECTED_LIVE = "refuse (409) unless this generation is still live: the one the caller saw (none: any)"


class CorpusPromoteIn(_In):
    name: str
    generation: int = Field(ge=1)
    expected_live: int | None = Field(default=None, ge=1, description=EXPECTED_LIVE)


class CorpusRollbackIn(_In):
    name: str
    generation: int | None = Field(default=None, ge=1, description="none: the generation live before this one")
    expected_live: int | None = Field(default=None, ge=1, description=EXPECTED_LIVE)


class CorpusSwitchOut(BaseModel):
    corpus: str
    action: str = Field(description="promote | rollback")
    live: int = Field(description="the generation live now")
    previous: int | None = Field(description="the generation live before (null: its live manifest was unreadable)")
    changed: bool = Field(description="false when the generation was already live")
    manifest: dict[str, Any]
    rows: str | None = Field(
        default=None, description="when the generation made live holds other rows: which rows it undoes"
    )


@mode("corpus.promote")
def corpus_promote(inp: CorpusPromoteIn, ctx: ModeContext) -> CorpusSwitchOut:
    """Make a kept generation (e.g. a staged adapter) live; the next search uses it."""
    return CorpusSwitchOut(**ctx.lakehouse.corpora.promote(inp.name, inp.generation, inp.expected_live))


@mode("corpus.rollback")
def corpus_rollback(inp: CorpusRollbackIn, ctx: ModeContext) -> CorpusSwitchOut:
    """Make the previously live generation (or the one given) live again."""
    return CorpusSwitchOut(**ctx.lakehouse.corpora.rollback(inp.name, inp.generation, inp.expected_live))
