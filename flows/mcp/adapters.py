"""The MCP tools that no catalog mode covers, as modes of their own (`mcp.*`), so that every tool
call goes through `invoke_mode` and leaves an ObservedOp like any other mode call.

They are registered only in the `lakehouse mcp` process (importing this module registers them):
they adapt what `lakehouse api` answers from its routes (the table list, a table's description,
running or checking a workflow by name, the op log), are not workflow building blocks, and keep
their own `mcp.` family so they can never collide with a catalog mode.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flows.engine import RunResult
from flows.http.runs import WorkflowRequest
from lakehouse.errors import UserError
from lakehouse.observe.observer import Source, Status
from modes.catalog.corpus import CorpusListIn, CorpusRow, corpus_list
from modes.context import ModeContext
from modes.registry import mode

MAX_PAGE = 500


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PageIn(_In):
    """`limit` and `offset` of a listing tool."""

    limit: int = Field(default=50, ge=1, le=MAX_PAGE, description=f"at most this many items (1-{MAX_PAGE}, default 50)")
    offset: int = Field(
        default=0, ge=0, description="skip this many items first (default 0); the next page: offset + limit"
    )


class PageOut(BaseModel):
    """What a listing tool adds to its answer."""

    total: int = Field(description="items in the whole listing")
    count: int = Field(description="items in this page")
    offset: int
    limit: int
    has_more: bool = Field(description="true: ask again with offset = offset + count")


def page_of(items: list[Any], limit: int, offset: int) -> tuple[list[Any], dict[str, Any]]:
    """The slice of `items` a page asks for, and the page's `PageOut` fields."""
    chunk = items[offset : offset + limit]
    return chunk, dict(
        total=len(items), count=len(chunk), offset=offset, limit=limit, has_more=offset + len(chunk) < len(items)
    )


# mcp.list_tables ------------------------------------------------------------------------------
class ListTablesIn(PageIn):
    pass


class ListTablesOut(PageOut):
    tables: list[str] = Field(description="qualified names (`namespace.name`), sorted")


@mode("mcp.list_tables")
def list_tables(inp: ListTablesIn, ctx: ModeContext) -> ListTablesOut:
    """The Iceberg tables, sorted by qualified name, one page at a time."""
    names, page = page_of(ctx.lakehouse.tables.list(), inp.limit, inp.offset)
    return ListTablesOut(tables=names, **page)


# mcp.list_corpora -----------------------------------------------------------------------------
class ListCorporaIn(PageIn):
    pass


class ListCorporaOut(PageOut):
    corpora: list[CorpusRow] = Field(description="by name: size, embedding model, dims, source table")


@mode("mcp.list_corpora")
def list_corpora(inp: ListCorporaIn, ctx: ModeContext) -> ListCorporaOut:
    """The corpora (what `corpus.list` lists), one page at a time."""
    rows, page = page_of(corpus_list(CorpusListIn(), ctx).corpora, inp.limit, inp.offset)
    return ListCorporaOut(corpora=rows, **page)


# mcp.describe_table ---------------------------------------------------------------------------
class DescribeTableIn(_In):
    table: str = Field(min_length=1, description="`name` or `namespace.name` (bare names are in namespace `lakehouse`)")
    snapshots: int = Field(default=10, ge=0, le=1000, description="the newest N snapshots to list (default 10)")


class Column(BaseModel):
    id: int
    name: str
    type: str
    required: bool


class Snapshot(BaseModel):
    snapshot_id: int
    parent_id: int | None
    timestamp: str
    operation: str | None
    summary: dict[str, Any]


class DescribeTableOut(BaseModel):
    name: str
    rows: int = Field(description="rows in the current snapshot")
    columns: list[Column]
    current_snapshot_id: int | None
    snapshot_count: int
    snapshots: list[Snapshot] = Field(description="newest first")
    location: str
    format_version: int


@mode("mcp.describe_table")
def describe_table(inp: DescribeTableIn, ctx: ModeContext) -> DescribeTableOut:
    """A table's columns, row count and snapshots (newest first)."""
    info = ctx.lakehouse.tables.describe(inp.table)
    snapshots = list(reversed(info["snapshots"]))
    return DescribeTableOut(
        name=info["name"],
        rows=info["rows"],
        columns=[Column(**c) for c in info["schema"]],
        current_snapshot_id=info["current_snapshot_id"],
        snapshot_count=len(snapshots),
        snapshots=[Snapshot(**s) for s in snapshots[: inp.snapshots]],
        location=info["location"],
        format_version=info["format_version"],
    )


# mcp.validate_workflow / mcp.run_workflow -----------------------------------------------------
class ValidateIssue(BaseModel):
    node: str | None
    field: str | None
    message: str


class ValidateWorkflowOut(BaseModel):
    valid: bool
    workflow: str | None = Field(description="the workflow's name")
    nodes: list[str] = Field(default_factory=list, description="node ids in a run order")
    layers: list[list[str]] = Field(default_factory=list, description="nodes that may run at the same time")
    inputs: dict[str, Any] = Field(default_factory=dict, description="the inputs with defaults filled in")
    issues: list[ValidateIssue] = Field(default_factory=list, description="every problem found (valid: false)")


@mode("mcp.validate_workflow")
def validate_workflow(inp: WorkflowRequest, ctx: ModeContext) -> ValidateWorkflowOut:
    """Check a workflow (YAML text or a shipped or saved workflow's name) and its inputs without running it."""
    from flows.http.errors import ApiError
    from flows.http.runs import load_request

    try:
        loaded = load_request(inp)  # the same checks as `POST /v1/observer/workflow/validate`
    except ApiError as exc:
        if exc.type != "workflow_invalid":
            raise  # an unknown name: an error that lists the known ones
        issues = [ValidateIssue(node=i["node"], field=i["field"], message=i["message"]) for i in exc.details["issues"]]
        return ValidateWorkflowOut(valid=False, workflow=inp.workflow, issues=issues)
    return ValidateWorkflowOut(
        valid=True, workflow=loaded.name, nodes=loaded.order, layers=loaded.layers, inputs=loaded.inputs
    )


class RunWorkflowIn(_In):
    workflow: str = Field(min_length=1, max_length=1_024, description="name of a shipped or saved workflow")
    inputs: dict[str, Any] = Field(default_factory=dict, description="values for the workflow's inputs")


class RunWorkflowOut(RunResult):
    ops: list[dict[str, Any]] = Field(description="the run's ObservedOps, one per node attempt")


@mode("mcp.run_workflow")
def run_workflow(inp: RunWorkflowIn, ctx: ModeContext) -> RunWorkflowOut:
    """Run a shipped or saved workflow by name through Prefect and wait for its result."""
    from flows.http.runs import load_request, run_loaded

    if ctx.source != "mcp":  # a workflow runs another one with a `workflow:` node, not through this tool
        raise UserError("mode mcp.run_workflow serves MCP clients only; in a workflow use a `workflow:` node")
    loaded = load_request(WorkflowRequest(workflow=inp.workflow, inputs=inp.inputs))
    # as for a run submitted over HTTP: the nodes' paths must stay under the lakehouse's roots
    return RunWorkflowOut.model_validate(run_loaded(loaded))


# mcp.ops_query --------------------------------------------------------------------------------
class OpsQueryIn(PageIn):
    sql: str | None = Field(
        default=None,
        description="one read-only SELECT over the table `ops` (DuckDB), e.g. "
        "`SELECT mode, count(*) AS n FROM ops GROUP BY 1`; leave out for the op list",
    )
    run_id: str | None = Field(default=None, description="op list: only this run (the Prefect flow-run id)")
    workflow: str | None = Field(default=None, description="op list: only this workflow")
    source: Source | None = Field(default=None, description="op list: only ops from this source")
    mode: str | None = Field(default=None, description="op list: only this mode")
    status: Status | None = Field(default=None, description="op list: only this")


class OpsQueryOut(PageOut):
    ops: list[dict[str, Any]] | None = Field(
        default=None,
        description="the op list (no `sql`), oldest first: a page stays put until `lakehouse gc` drops the "
        "ops older than the history's retention (90 days); the newest ops: offset = total - limit",
    )
    columns: list[str] | None = Field(default=None, description="the query's columns (`sql`)")
    rows: list[list[Any]] | None = Field(default=None, description="the query's rows (`sql`)")


@mode("mcp.ops_query")
def ops_query(inp: OpsQueryIn, ctx: ModeContext) -> OpsQueryOut:
    """The ObservedOp log: filtered, oldest first, or one read-only SQL query over it (table `ops`)."""
    observer = ctx.lakehouse.observer
    if inp.sql is not None:
        from lakehouse.data.errors import SqlError

        filters = [name for name in ("run_id", "workflow", "source", "mode", "status") if getattr(inp, name)]
        if filters:
            raise UserError(f"give `sql` or the list filters ({', '.join(filters)}), not both: put them in a WHERE")
        try:
            columns, rows = observer.sql(inp.sql, ctx.lakehouse.settings)
        except SqlError as exc:
            raise UserError(f"sql: {str(exc).splitlines()[0]}") from None
        chunk, page = page_of([list(r) for r in rows], inp.limit, inp.offset)
        # JSON-ready: DuckDB hands back datetimes and decimals
        out = OpsQueryOut(columns=columns, rows=chunk, **page)
        return OpsQueryOut.model_validate(out.model_dump(mode="json"))
    wanted = {name: getattr(inp, name) for name in ("source", "mode", "status") if getattr(inp, name)}
    rows = observer.ops(run_id=inp.run_id, workflow=inp.workflow)
    rows = [r for r in rows if all(r.get(k) == v for k, v in wanted.items())]
    chunk, page = page_of(rows, inp.limit, inp.offset)
    return OpsQueryOut(ops=chunk, **page)
