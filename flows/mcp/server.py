"""The MCP server: the curated `lakehouse_*` tools, shipped workflows as prompts, mode schemas as
resources. `build_server(settings)` makes it; `lakehouse mcp` serves it over stdio, or with `--http`
as streamable HTTP behind the same access control as `lakehouse api` (flows/http/auth.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import yaml
from fastmcp import FastMCP
from fastmcp.prompts import Prompt
from fastmcp.prompts.base import Message, PromptArgument
from fastmcp.resources import Resource, ResourceTemplate
from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from flows.mcp.tools import PREFIX, Runtime, build_tools
from lakehouse.common.text import loads_json
from lakehouse.config import Settings, get_settings
from modes.registry import ModeSpec, all_modes, get_mode

SERVER_NAME = "lakehouse"
MCP_PATH = "/mcp"  # the streamable HTTP endpoint
SCHEMA_URI = "lakehouse://modes/{name}/schema"

INSTRUCTIONS = (
    "Lakehouse: Iceberg tables with DuckDB SQL, semantic search over corpora (matrix search), grounded "
    "answers, ratings that teach search, pathway memory, and YAML workflows run through Prefect. Start "
    "with lakehouse_list_corpora / lakehouse_list_tables; search with lakehouse_search; each workflow is a "
    "prompt and runs with lakehouse_run_workflow. Every tool call is recorded in the op log (lakehouse_ops_query)."
)


# ------------------------------------------------------------------------------ resources
def _is_public(name: str) -> bool:
    return not name.startswith("mcp.")  # the tools' own adapters are not modes anyone else can call


def mode_schema(spec: ModeSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "description": spec.description,
        "input": spec.input_model.model_json_schema(),
        "output": spec.output_model.model_json_schema(mode="serialization"),
    }


class ModeSchema(Resource):
    """One mode's input and output JSON schemas."""

    spec: SkipJsonSchema[Any] = Field(default=None, exclude=True)

    async def read(self) -> str:
        return json.dumps(mode_schema(self.spec), ensure_ascii=False)


class ModeSchemaTemplate(ResourceTemplate):
    """`lakehouse://modes/{name}/schema` for any registered mode."""

    async def read(self, arguments: dict[str, Any]) -> str:
        name = str(arguments["name"])
        spec = get_mode(name)  # an unknown name: UnknownModeError with close matches
        return json.dumps(mode_schema(spec), ensure_ascii=False)


def _add_resources(server: FastMCP) -> None:
    for name, spec in all_modes().items():
        if _is_public(name):
            server.add_resource(
                ModeSchema(
                    uri=SCHEMA_URI.format(name=name),  # type: ignore[arg-type]  # pydantic parses the URL
                    name=f"mode {name}",
                    description=f"Input and output JSON schemas of mode `{name}`: {spec.description}",
                    mime_type="application/json",
                    spec=spec,
                )
            )
    server.add_template(
        ModeSchemaTemplate(
            uri_template=SCHEMA_URI,
            name="mode schema",
            description="Input and output JSON schemas of any mode, by name (e.g. matrix.search)",
            mime_type="application/json",
            parameters={"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
        )
    )


# ------------------------------------------------------------------------------ prompts
def declared_inputs(path: Path) -> dict[str, dict[str, Any]]:
    """A workflow file's `inputs` declarations ({} when the file does not read: validate says why)."""
    from flows.loader import read_workflow_file
    from flows.yaml_limits import yaml_limits

    try:
        text = read_workflow_file(path)
        if yaml_limits(text):
            return {}
        doc = yaml.safe_load(text)
    except Exception:  # an unreadable shipped or saved file must not keep the server from starting
        return {}
    inputs = doc.get("inputs") if isinstance(doc, dict) else None
    if not isinstance(inputs, dict):
        return {}
    return {str(k): v if isinstance(v, dict) else {} for k, v in inputs.items()}


class WorkflowPrompt(Prompt):
    """A shipped or saved workflow: rendering it asks the model to run it with lakehouse_run_workflow."""

    path: SkipJsonSchema[Any] = Field(default=None, exclude=True)
    declared: SkipJsonSchema[dict[str, Any]] = Field(default_factory=dict, exclude=True)

    async def render(self, arguments: dict[str, Any] | None = None) -> list[Message | str]:
        inputs: dict[str, Any] = {}
        for key, value in (arguments or {}).items():
            if value is None or key not in self.declared:
                continue
            kind = self.declared[key].get("type", "string")
            try:  # prompt arguments arrive as text; a number, boolean, list or object input is JSON
                inputs[key] = value if kind == "string" else loads_json(value)
            except (TypeError, ValueError):
                inputs[key] = value
        call = json.dumps({"workflow": self.name, "inputs": inputs}, ensure_ascii=False)
        text = (
            f"Run the Lakehouse workflow `{self.name}`"
            + (f" ({self.description})" if self.description else "")
            + f" with the tool {PREFIX}run_workflow and these arguments:\n{call}\n"
            "Then report the run's status and each node's output; for a failed node, its error."
        )
        return [Message(text)]


def _add_prompts(server: FastMCP) -> None:
    from flows.loader import find_workflows, read_description

    for name, path in sorted(find_workflows().items()):
        declared = declared_inputs(path)
        arguments = [
            PromptArgument(
                name=key,
                description=" ".join(
                    part
                    for part in (
                        str(spec.get("description") or ""),
                        f"({spec.get('type', 'string')}"
                        + (f", default {json.dumps(spec['default'])})" if "default" in spec else ")"),
                    )
                    if part
                ),
                required=bool(spec.get("required", False)),  # as the loader reads it: optional unless said
            )
            for key, spec in declared.items()
        ]
        server.add_prompt(
            WorkflowPrompt(
                name=name,
                description=read_description(path) or f"workflow {name}",
                arguments=arguments,
                path=path,
                declared=declared,
            )
        )


# ------------------------------------------------------------------------------ the server
def build_server(settings: Settings | None = None) -> FastMCP:
    settings = settings or get_settings()
    runtime = Runtime(settings)

    @asynccontextmanager
    async def lifespan(server: FastMCP) -> AsyncIterator[dict[str, Any]]:
        try:
            yield {}
        finally:
            runtime.close()

    server = FastMCP(SERVER_NAME, instructions=INSTRUCTIONS, lifespan=lifespan)
    for tool in build_tools(runtime):
        server.add_tool(tool)
    _add_prompts(server)
    _add_resources(server)
    return server


def http_app(settings: Settings, server: FastMCP | None = None):
    """The streamable HTTP app at /mcp behind `lakehouse api`'s access control: the client allowlist
    (LH_API_ALLOW), then the Bearer token (LH_API_TOKEN), then the body cap."""
    from starlette.middleware import Middleware

    from flows.http.auth import AccessControl, parse_networks
    from flows.http.limits import BodyLimit

    # bad access settings fail at start-up, not on the first request
    parse_networks(settings.api_allow, "LH_API_ALLOW")
    parse_networks(settings.api_trusted_proxies, "LH_API_TRUSTED_PROXIES")
    server = server or build_server(settings)
    return server.http_app(
        path=MCP_PATH,
        # a loopback-bound server answers only Host/Origin headers that name loopback: a web page that
        # re-points its own name at 127.0.0.1 (DNS rebinding) cannot drive the tools from a browser
        host_origin_protection="auto",
        middleware=[  # the first is the outermost: refuse before reading any body
            Middleware(AccessControl, settings=settings),
            Middleware(BodyLimit, max_bytes=settings.api_max_body_bytes),
        ],
    )
