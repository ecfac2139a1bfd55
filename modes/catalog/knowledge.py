"""Knowledge-workflow modes that need no model: load documents, the hallucination check, consensus
agreement, red-team application with storage (an Iceberg table and pathway traces), and Markdown.

Each pass's output carries `counts` ({name, kept, dropped, flagged}), so the run's ObservedOps (and
the ops artifact on the Prefect flow run) say what every pass did. The logic is in
`lakehouse/learning/knowledge.py`; these are its typed entry points for workflows, HTTP and the CLI.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from lakehouse.learning.errors import KnowledgeError
from lakehouse.learning.knowledge import (
    Claim,
    Document,
    Dropped,
    PassCounts,
    agree,
    check,
    collect,
    counts,
    listing,
    red_team,
    render,
)
from modes.context import ModeContext
from modes.registry import mode

MAX_DOCUMENT_CHARS = 200_000  # one document; a bigger one would not fit any prompt anyway


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoadDocsIn(_In):
    source: str = Field(
        description="a folder of .md/.txt files (README.md left out; not recursive): under LH_HOME or an "
        "allowed root, from the CLI any folder relative to the working directory; or `table:NAME`, a table "
        "with one document per row"
    )
    id_column: str = "id"
    text_column: str = "text"
    title_column: str | None = Field(default="title", description="optional; the first `# ` heading, else the id")
    suffixes: list[str] = Field(default_factory=lambda: [".md", ".txt"])
    max_documents: int = Field(default=50, ge=1, le=1_000)


class LoadDocsOut(BaseModel):
    documents: list[Document]
    count: int
    listing: str = Field(description="every document with its id, for prompts that need the sources")


def _title(text: str, fallback: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return fallback


def _check_size(doc_id: str, text: str) -> None:
    if len(text) > MAX_DOCUMENT_CHARS:
        raise KnowledgeError(
            f"document {doc_id!r} has {len(text):,} characters, more than {MAX_DOCUMENT_CHARS:,}: split it"
        )


def _from_folder(inp: LoadDocsIn, ctx: ModeContext) -> list[Document]:
    folder = ctx.path(inp.source, field="source", cwd_relative=True)
    if not folder.is_dir():
        raise KnowledgeError(f"source: {inp.source!r} is not a folder (or `table:NAME`)")
    suffixes = {s.lower() for s in inp.suffixes}
    names = sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes and p.name.lower() != "readme.md")
    if len(names) > inp.max_documents:
        raise KnowledgeError(f"source: {len(names)} documents, more than max_documents={inp.max_documents}")
    docs = []
    for name in names:
        path = ctx.path(str(name), field="source")  # each file again: a symlink must not leave the roots
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        _check_size(name.stem, text)
        docs.append(
            Document(
                id=name.stem, title=_title(text, name.stem), source=f"{inp.source.rstrip('/')}/{name.name}", text=text
            )
        )
    return docs


def _from_table(name: str, inp: LoadDocsIn, ctx: ModeContext) -> list[Document]:
    tables = ctx.lakehouse.tables
    have = tables.load(name).schema().column_names
    wanted = [inp.id_column, inp.text_column]
    if inp.title_column and inp.title_column in have:
        wanted.append(inp.title_column)
    rows = tables.read_arrow(name, columns=wanted).to_pylist()
    if len(rows) > inp.max_documents:
        raise KnowledgeError(f"source: {len(rows)} documents, more than max_documents={inp.max_documents}")
    docs = []
    for row in rows:
        doc_id, text = str(row[inp.id_column]), row[inp.text_column] or ""
        _check_size(doc_id, text)
        title = str(row.get(inp.title_column or "") or _title(text, doc_id))
        docs.append(Document(id=doc_id, title=title, source=f"table:{name}#{doc_id}", text=text))
    return docs


@mode("knowledge.load_docs")
def load_docs(inp: LoadDocsIn, ctx: ModeContext) -> LoadDocsOut:
    """Documents to extract knowledge from: the .md/.txt files of a folder (README.md left out), or
    the rows of a table (`table:NAME`: id, text, optional title)."""
    table = inp.source[len("table:") :].strip() if inp.source.startswith("table:") else None
    docs = _from_table(table, inp, ctx) if table else _from_folder(inp, ctx)
    if not docs:
        raise KnowledgeError(f"no documents in {inp.source!r} (suffixes {inp.suffixes})")
    ids = [d.id for d in docs]
    if len(set(ids)) != len(ids):
        raise KnowledgeError(f"document ids must be unique; repeated: {sorted({i for i in ids if ids.count(i) > 1})}")
    text = "\n\n".join(f"[{d.id}] {d.title}\n{d.text.strip()}" for d in docs)
    return LoadDocsOut(documents=docs, count=len(docs), listing=text)


# ---------------------------------------------------------------------------------- collect + check
class CollectIn(_In):
    documents: list[Document]
    extractions: list[Any] = Field(description="the extract pass's output: one `{claims: [...]}` per document")


class ClaimsOut(BaseModel):
    """A pass's verdict. `counts` sorts first in the op's canonical JSON, so it stays in the op's
    output summary when the claims make the output longer than the summary's 2,000 characters."""

    counts: PassCounts
    dropped: list[Dropped]
    kept_claims: list[Claim]
    listing: str = Field(description="the kept claims, one line each, for the next prompt")


def _claims_out(name: str, kept: list[Claim], dropped: list[Dropped]) -> ClaimsOut:
    return ClaimsOut(kept_claims=kept, dropped=dropped, listing=listing(kept), counts=counts(name, kept, dropped))


@mode("knowledge.collect")
def collect_claims(inp: CollectIn, ctx: ModeContext) -> ClaimsOut:
    """Number each document's extracted claims (`DOC:cN`) and drop repeats."""
    kept, dropped = collect(inp.documents, inp.extractions)
    return _claims_out("extract", kept, dropped)


class CheckIn(_In):
    claims: list[Claim]
    documents: list[Document]
    ratings: list[Any] = Field(default_factory=list, description="the validate pass's `{id, confidence}` per claim")
    min_confidence: int = Field(default=5, ge=1, le=10)


@mode("knowledge.hallucination_check")
def hallucination_check(inp: CheckIn, ctx: ModeContext) -> ClaimsOut:
    """Drop every claim whose quote is not in its source text (or rated under `min_confidence`);
    flag loose quote matches, numbers the quote lacks, and unrated claims."""
    kept, dropped = check(inp.claims, inp.documents, inp.ratings, inp.min_confidence)
    return _claims_out("hallucination_check", kept, dropped)


# ---------------------------------------------------------------------------------- consensus
class AgreeIn(_In):
    claims: list[Claim]
    keep: list[str] = Field(description="the ids this pass keeps")
    drop: list[Any] = Field(default_factory=list, description="`{id, reason}` of the ids this pass drops")
    previous: list[str] | None = Field(default=None, description="the ids the previous pass kept; null for the first")
    iteration: int | None = None


class AgreeOut(ClaimsOut):
    agreed: bool = Field(description="this pass keeps exactly the claims the previous pass kept")
    keep_ids: list[str]
    changed: list[str] = Field(description="claims whose verdict differs from the previous pass")
    unknown_ids: list[str] = Field(description="ids the pass named that are not claims")
    iteration: int | None = None


@mode("knowledge.agree")
def agree_pass(inp: AgreeIn, ctx: ModeContext) -> AgreeOut:
    """Compare one consensus pass with the previous one: agreed when both keep the same claims."""
    kept, dropped, unknown, changed = agree(inp.claims, inp.keep, inp.drop, inp.previous)
    keep_ids = sorted(c.id for c in kept)
    if inp.previous is not None:  # on the first pass every claim "changed": nothing to flag yet
        note = "its verdict changed in this pass"
        kept = [c.model_copy(update={"flags": [*c.flags, note]}) if c.id in changed else c for c in kept]
    out = _claims_out(f"consensus#{inp.iteration or 1}", kept, dropped)
    return AgreeOut(
        **out.model_dump(),
        agreed=inp.previous is not None and not changed,
        keep_ids=keep_ids,
        changed=changed,
        unknown_ids=unknown,
        iteration=inp.iteration,
    )


# ---------------------------------------------------------------------------------- red-team + store
class StoreIn(_In):
    claims: list[Claim]
    documents: list[Document]
    verdicts: list[Any] = Field(default_factory=list, description="the red-team pass's `{id, action, attack, ...}`")
    table: str = Field(default="knowledge_claims", description="the claims table (`name` or `namespace.name`)")
    traces: bool = Field(default=True, description="also add each surviving claim as a pathway trace")
    consensus: dict[str, Any] = Field(default_factory=dict, description="e.g. `{agreed, iteration}`, kept per row")


class StoreOut(ClaimsOut):
    table: str
    snapshot_id: int | None = Field(description="the write's snapshot; null when the run's rows were there already")
    rows: int
    traces_added: int
    traces_skipped: int
    red_team_attacks: list[str]


_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("claim_id", pa.string()),
        ("document", pa.string()),
        ("source", pa.string()),
        ("kind", pa.string()),
        ("question", pa.string()),
        ("text", pa.string()),
        ("subject", pa.string()),
        ("predicate", pa.string()),
        ("object", pa.string()),
        ("quote", pa.string()),
        ("confidence", pa.int64()),
        ("flags", pa.string()),
        ("consensus", pa.string()),
    ]
)


def _run_key(ctx: ModeContext, claims: list[Claim]) -> str:
    """The rows' run id: the workflow run's, or (a direct call) a hash of the claims, so a retry or a
    resumed run never writes its rows twice."""
    if ctx.run_id:
        return ctx.run_id
    blob = json.dumps([c.model_dump() for c in claims], sort_keys=True).encode()
    return "direct-" + hashlib.sha256(blob).hexdigest()[:16]


def _write_rows(ctx: ModeContext, name: str, run_key: str, rows: list[dict[str, Any]]) -> int | None:
    from lakehouse.data.tables import Write

    data = pa.Table.from_pylist(rows, schema=_SCHEMA)

    def plan(tbl: Any) -> Write | None:
        if tbl is not None and "run_id" in tbl.schema().column_names and tbl.current_snapshot() is not None:
            # run keys are uuids or `direct-<hex>`: nothing to escape in the filter text
            there = tbl.scan(row_filter=f"run_id == '{run_key}'", selected_fields=("claim_id",)).to_arrow()
            if there.num_rows:
                return None  # this run stored its claims already (a retry, a resume)
        return Write(data)

    return ctx.lakehouse.tables.write_planned(name, plan).snapshot_id


@mode("knowledge.store")
def store(inp: StoreIn, ctx: ModeContext) -> StoreOut:
    """Apply the red-team verdicts (drop, or patch and re-check the quote), then append the surviving
    claims to a table (once per run) and add them as pathway traces (idempotent)."""
    from lakehouse.data.table_names import caller_writable

    caller_writable(inp.table)  # before anything is stored: never the lakehouse's own tables
    kept, dropped, attacks = red_team(inp.claims, inp.verdicts, inp.documents)
    run_key = _run_key(ctx, kept)
    sources = {d.id: d.source for d in inp.documents}
    consensus = json.dumps(inp.consensus, sort_keys=True) if inp.consensus else ""
    rows = [
        {
            "run_id": run_key,
            "claim_id": c.id,
            "document": c.document,
            "source": sources.get(c.document, ""),
            "kind": c.kind,
            "question": c.question,
            "text": c.text,
            "subject": c.subject,
            "predicate": c.predicate,
            "object": c.object,
            "quote": c.quote,
            "confidence": c.confidence,
            "flags": "; ".join(c.flags),
            "consensus": consensus,
        }
        for c in kept
    ]
    snapshot = _write_rows(ctx, inp.table, run_key, rows) if rows else None
    added = skipped = 0
    if inp.traces and kept:
        entries = [
            {
                "text": c.text,
                "metadata": {
                    "kind": "knowledge_claim",
                    "claim_id": c.id,
                    "document": c.document,
                    "source": sources.get(c.document, ""),
                    "question": c.question,
                    "quote": c.quote,
                    "table": inp.table,
                },
            }
            for c in kept
        ]
        result = ctx.lakehouse.pathway.add_many(entries)
        if result["failed"]:
            errors = [r["error"] for r in result["results"] if r.get("error")]
            raise KnowledgeError(f"{result['failed']} pathway trace(s) not added: {errors[0]}")
        added, skipped = result["added"], result["skipped"]
    out = _claims_out("red_team", kept, dropped)
    return StoreOut(
        **out.model_dump(),
        table=inp.table,
        snapshot_id=snapshot,
        rows=len(rows),
        traces_added=added,
        traces_skipped=skipped,
        red_team_attacks=attacks,
    )


# ---------------------------------------------------------------------------------- render
class RenderIn(_In):
    title: str = "Knowledge"
    claims: list[Claim]
    documents: list[Document]
    passes: list[PassCounts] = Field(default_factory=list, description="each pass's counts, in order")
    consensus: dict[str, Any] = Field(default_factory=dict, description="`{agreed, iteration}` of the consensus loop")
    path: str | None = Field(default=None, description="also write the Markdown here (under the allowed roots)")


class RenderOut(BaseModel):
    markdown: str
    questions: list[str]
    claims: int
    path: str | None = None


@mode("knowledge.render")
def render_markdown(inp: RenderIn, ctx: ModeContext) -> RenderOut:
    """The surviving claims as Markdown, one section per question, each with its source and quote."""
    note = None
    if inp.consensus:
        passes = inp.consensus.get("iteration")
        note = (
            f"Consensus: two passes agreed at pass {passes}."
            if inp.consensus.get("agreed")
            else f"Consensus: the passes did not agree within {passes} pass(es); the last pass's verdicts were used."
        )
    markdown, questions = render(inp.title, inp.claims, inp.documents, inp.passes, note)
    written = None
    if inp.path:
        target = ctx.path(inp.path, field="path", for_write=True, cwd_relative=True)
        if target.is_dir():
            raise KnowledgeError(f"path: {inp.path!r} is a folder; name the Markdown file to write")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(markdown, encoding="utf-8")
        written = str(target)
    return RenderOut(markdown=markdown, questions=questions, claims=len(inp.claims), path=written)
