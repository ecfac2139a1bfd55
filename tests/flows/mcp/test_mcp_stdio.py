"""Issue 13.1 over stdio: a real fastmcp Client spawns `lakehouse mcp` (a temp LH_HOME with the
`health` corpus), lists the tools with their schemas and annotations, calls search, sql,
run_workflow and rate, gets structured results, and every call is an op with source `mcp`."""

from __future__ import annotations

import json

import jsonschema
import pytest
from fastmcp import Client

from tests.fixtures import mcp as fixtures
from tests.fixtures.mcp import NURSE, run

mcp_home = fixtures.mcp_home  # the fixture
stdio_transport = fixtures.stdio_transport  # the fixture

pytestmark = pytest.mark.prefect

EXPECTED_TOOLS = {
    "lakehouse_search",
    "lakehouse_ask",
    "lakehouse_sql",
    "lakehouse_list_tables",
    "lakehouse_describe_table",
    "lakehouse_list_corpora",
    "lakehouse_run_workflow",
    "lakehouse_validate_workflow",
    "lakehouse_rate",
    "lakehouse_pathway_add",
    "lakehouse_pathway_search",
    "lakehouse_pathway_history",
    "lakehouse_ops_query",
}


def test_stdio_tools_calls_and_ops(stdio_transport, mcp_home):
    async def session():
        async with Client(stdio_transport, timeout=300) as client:
            tools = {t.name: t for t in await client.list_tools()}
            calls = {
                "search": await client.call_tool(
                    "lakehouse_search", {"query": "registered nurse on a hospital ward", "corpora": ["health"]}
                ),
                "sql": await client.call_tool("lakehouse_sql", {"sql": "SELECT count(*) AS n FROM health"}),
                "run": await client.call_tool(
                    "lakehouse_run_workflow", {"workflow": "hello-lakehouse", "inputs": {"text": "over stdio"}}
                ),
                "rate": await client.call_tool(
                    "lakehouse_rate",
                    {"query": "ward nurse", "corpus": "health", "id": NURSE, "verdict": "good", "by": "mcp-test"},
                ),
            }
            return tools, calls

    tools, calls = run(session)
    assert set(tools) == EXPECTED_TOOLS
    search = tools["lakehouse_search"]
    assert search.input_schema["required"] == ["query", "corpora"]
    assert {"hits", "count", "downgrade"} <= set(search.output_schema["properties"])
    assert search.annotations.read_only_hint is True and search.annotations.destructive_hint is False
    runner = tools["lakehouse_run_workflow"].annotations
    assert (runner.read_only_hint, runner.destructive_hint, runner.idempotent_hint) == (False, True, False)

    for name, result in calls.items():  # structured, and what the tool's output schema promises
        assert not result.is_error, name
        tool = tools[f"lakehouse_{name if name != 'run' else 'run_workflow'}"]
        jsonschema.validate(result.structured_content, tool.output_schema)
        assert json.loads(result.content[0].text) == result.structured_content

    hits = calls["search"].structured_content["hits"]
    assert hits and hits[0]["corpus"] == "health" and NURSE in [h["id"] for h in hits]
    assert calls["sql"].structured_content["rows"] == [[96]]
    ran = calls["run"].structured_content
    assert ran["status"] == "completed" and ran["workflow"] == "hello-lakehouse"
    assert ran["nodes"]["join"]["output"] == {"value": "over stdio -> OVER STDIO"}
    assert {op["node_id"] for op in ran["ops"]} == {"start", "shout", "join"}
    assert calls["rate"].structured_content["recorded"] == 1

    # every tool call above left an op with source mcp, in the home's shared op log
    ops = [json.loads(line) for line in (mcp_home / "ops.jsonl").read_text().splitlines()]
    mine = [(op["mode"], op["status"]) for op in ops if op["source"] == "mcp"]
    for mode in ("matrix.search", "sql.query", "mcp.run_workflow", "matrix.feedback"):
        assert (mode, "completed") in mine
