"""The curated MCP tools: one mode each, called through `invoke_mode` with `source: mcp`.

A tool's input schema is its mode's input model, its output schema the mode's output model (a
listing's mode pages itself: `limit` / `offset` in, `total` / `has_more` out); the answer is the
mode's output as structured content (and as JSON text for clients that read only text). A failure
is an MCP tool error (`isError`) whose text names the field or the thing and says what to try
next; which advice goes with which error comes from its kind, the one classification HTTP uses
(`classify`). A call's failure is an op too: `invoke_mode` records it before the error is answered.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import anyio
import mcp_types
from fastmcp.tools import Tool, ToolResult
from pydantic import Field, ValidationError
from pydantic.json_schema import SkipJsonSchema

import flows.mcp.adapters  # noqa: F401  (registers the `mcp.*` modes the tools call)
from flows.http.errors import classify, validation_details
from lakehouse.common.secrets import scrub
from lakehouse.common.text import MAX_JSON_DEPTH, json_depth
from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from modes.context import ModeContext
from modes.invoke import invoke_mode
from modes.registry import all_modes, get_mode

log = logging.getLogger("lakehouse.mcp")

PREFIX = "lakehouse_"


@dataclass(frozen=True)
class ToolSpec:
    name: str  # without the `lakehouse_` prefix
    mode: str
    description: str
    read_only: bool
    destructive: bool = False
    idempotent: bool = True
    open_world: bool = False  # reaches outside the lakehouse (a model provider)
    listing: str = ""  # where to look when a name is not found


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "search",
        "matrix.search",
        "Semantic search over one or more corpora at once (see lakehouse_list_corpora): hits merged, filtered "
        "by metadata or SQL, voted on by recorded ratings, irrelevant ones dropped. Each hit has corpus, id, "
        "text, score and metadata.",
        read_only=True,
        listing="lakehouse_list_corpora",
    ),
    ToolSpec(
        "ask",
        "ask",
        "Answer a question from matrix-search hits only, citing hit ids; ids the answer cites that are not "
        "among the hits are flagged. When no hit is relevant no model is asked and the answer says so.",
        read_only=True,
        idempotent=False,
        open_world=True,
        listing="lakehouse_list_corpora",
    ),
    ToolSpec(
        "sql",
        "sql.query",
        "One read-only SQL query (SELECT / WITH, DuckDB) over the Iceberg tables; rows are capped "
        "(`truncated` says so). Table names as in lakehouse_list_tables.",
        read_only=True,
        listing="lakehouse_list_tables",
    ),
    ToolSpec(
        "list_tables",
        "mcp.list_tables",
        "The Iceberg tables (qualified names), paginated.",
        read_only=True,
    ),
    ToolSpec(
        "describe_table",
        "mcp.describe_table",
        "A table's columns and types, row count and newest snapshots.",
        read_only=True,
        listing="lakehouse_list_tables",
    ),
    ToolSpec(
        "list_corpora",
        "mcp.list_corpora",
        "The searchable corpora with their size, embedding model and source table, paginated.",
        read_only=True,
    ),
    ToolSpec(
        "run_workflow",
        "mcp.run_workflow",
        "Run a shipped or saved workflow by name (the MCP prompts list them with their inputs) and wait for "
        "it: per-node status and output, and the run's ObservedOps. Workflows may write tables, corpora and "
        "memory. File paths must stay under the lakehouse's home, its inbox or an allowed root.",
        read_only=False,
        destructive=True,
        idempotent=False,
        open_world=True,
        listing="the MCP prompts, one per workflow",
    ),
    ToolSpec(
        "validate_workflow",
        "mcp.validate_workflow",
        "Check a workflow without running it: give `workflow` (a shipped or saved name) or `yaml` (its text), "
        "and `inputs`. Answers valid with the run order, or every problem found.",
        read_only=True,
        listing="the MCP prompts, one per workflow",
    ),
    ToolSpec(
        "rate",
        "matrix.feedback",
        "Rate a search hit for a query as good or bad (or send a batch in `ratings`); later searches let the "
        "recorded ratings vote. A batch is idempotent; one rating without `ts` is recorded each time.",
        read_only=False,
        idempotent=False,
        listing="lakehouse_search (for ids) and lakehouse_list_corpora",
    ),
    ToolSpec(
        "pathway_add",
        "pathway.add",
        "Add a trace (a piece of text with metadata) to pathway memory, version 1.",
        read_only=False,
        idempotent=False,
    ),
    ToolSpec(
        "pathway_search",
        "pathway.search",
        "Semantic search over the active traces of pathway memory, after an equality metadata filter.",
        read_only=True,
    ),
    ToolSpec(
        "pathway_history",
        "pathway.history",
        "A trace's versions, following its revise chain back to the first; loops and broken links reported.",
        read_only=True,
        listing="lakehouse_pathway_search",
    ),
    ToolSpec(
        "ops_query",
        "mcp.ops_query",
        "The ObservedOp audit log (one row per mode call or workflow node attempt): the op list, oldest first "
        "(the newest: offset = total - limit), filtered by run, workflow, source, mode or status; or one "
        "read-only SQL query over the table `ops`. Paginated.",
        read_only=True,
    ),
)

# what to try next, by the HTTP status an error's kind maps to (flows/http/errors.py `classify`)
_NEXT_STEP = {
    400: "fix the argument and call again",
    403: "this server does not allow it: paths must stay under the lakehouse's home, its inbox or an allowed root",
    404: "check the name{listing}",
    409: "the state changed or the thing exists already: read it again, then retry",
    413: "send less: the value is over the server's limit",
    422: "fix the argument and call again",
    502: "the model provider failed: retry later, or name another model",
    503: "a service the lakehouse needs is unavailable: retry later",
}


class Runtime:
    """What the tools share: the settings and one Lakehouse handle, opened on the first call."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lakehouse: Lakehouse | None = None
        self._lock = threading.Lock()

    @property
    def lakehouse(self) -> Lakehouse:
        with self._lock:
            if self._lakehouse is None:
                self._lakehouse = Lakehouse(self.settings)
            return self._lakehouse

    def redact(self, text: str) -> str:
        return scrub(text, self.settings.secret_values())

    def close(self) -> None:
        with self._lock:
            if self._lakehouse is not None:
                self._lakehouse.close()
                self._lakehouse = None


class ModeTool(Tool):
    """An MCP tool that runs one mode (`invoke_mode`, `source: mcp`, paths untrusted)."""

    mode_name: SkipJsonSchema[str] = Field(exclude=True)
    listing: SkipJsonSchema[str] = Field(default="", exclude=True)
    runtime: SkipJsonSchema[Any] = Field(default=None, exclude=True)

    @classmethod
    def of(cls, tool: ToolSpec, runtime: Runtime) -> ModeTool:
        spec = get_mode(tool.mode)
        return cls(
            name=PREFIX + tool.name,
            description=tool.description,
            parameters=spec.input_model.model_json_schema(),
            output_schema=spec.output_model.model_json_schema(mode="serialization"),
            annotations=mcp_types.ToolAnnotations(
                read_only_hint=tool.read_only,
                destructive_hint=tool.destructive,
                idempotent_hint=tool.idempotent,
                open_world_hint=tool.open_world,
            ),
            mode_name=tool.mode,
            listing=tool.listing,
            runtime=runtime,
        )

    async def run(self, arguments: dict[str, Any]) -> ToolResult:
        # modes block (DuckDB, Iceberg, a whole Prefect run): off the event loop, like FastAPI's sync routes
        return await anyio.to_thread.run_sync(self.call, dict(arguments or {}))

    def call(self, args: dict[str, Any]) -> ToolResult:
        depth = json_depth(args)
        if depth > MAX_JSON_DEPTH:  # as HTTP bodies: past 255 levels answering would fail (pydantic)
            text = f"the arguments nest {depth} levels of lists and objects; at most {MAX_JSON_DEPTH} are accepted"
            return ToolResult(content=[mcp_types.TextContent(type="text", text=text)], is_error=True)
        try:
            ctx = ModeContext(lakehouse=self.runtime.lakehouse, source="mcp", trusted_paths=False)
            out = invoke_mode(self.mode_name, args, ctx)
        except Exception as exc:
            return self.failure(exc)
        text = json.dumps(out, ensure_ascii=False, default=str)
        return ToolResult(content=[mcp_types.TextContent(type="text", text=text)], structured_content=out)

    def failure(self, exc: Exception) -> ToolResult:
        text = self.runtime.redact(self.error_text(exc))
        return ToolResult(content=[mcp_types.TextContent(type="text", text=text)], is_error=True)

    def error_text(self, exc: Exception) -> str:
        spec = get_mode(self.mode_name)
        if isinstance(exc, ValidationError) and exc.title == spec.input_model.__name__:
            _, fields = validation_details(exc.errors(), spec.input_model, strip=())
            problems = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
            return (
                f"{problems} — fix the argument{'s' if len(fields) > 1 else ''} named and call {self.name} again "
                "(its input schema lists every field, with types and defaults)."
            )
        known = classify(exc)
        if known is None:  # a bug: the text stays in our log, the client gets an id to quote
            error_id = uuid.uuid4().hex[:12]
            log.error("%s failed (error id %s)", self.name, error_id, exc_info=exc)
            return (
                f"internal error (id {error_id}) in {self.name}; the MCP server's log has the details. "
                "Retry once; if it fails again, report the id."
            )
        listing = f" (see {self.listing})" if self.listing else ""
        advice = _NEXT_STEP.get(known.status, "fix the argument and call again").format(listing=listing)
        return f"{known.message} — {advice}."


def build_tools(runtime: Runtime) -> list[ModeTool]:
    """The curated tools whose mode is registered (`ask` only where that mode is installed)."""
    modes = all_modes()
    return [ModeTool.of(tool, runtime) for tool in TOOLS if tool.mode in modes]
