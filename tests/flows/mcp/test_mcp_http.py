"""Issue 13.1 over streamable HTTP: `lakehouse mcp --http` with a token; a real fastmcp Client
lists the tools with schemas and annotations, calls search, sql, run_workflow and rate, lists the
prompts (shipped workflows) and resources (mode schemas), and finds its calls among the ops."""

from __future__ import annotations

import json

import jsonschema
import pytest

from tests.fixtures import mcp as fixtures
from tests.fixtures.mcp import NURSE, run, text_of

mcp_home = fixtures.mcp_home  # the fixture
mcp_http = fixtures.mcp_http  # the fixture

pytestmark = pytest.mark.prefect


def test_tools_have_schemas_and_annotations(mcp_http):
    async def session():
        async with mcp_http.client() as client:
            return {t.name: t for t in await client.list_tools()}

    tools = run(session)
    assert "lakehouse_search" in tools and "lakehouse_ops_query" in tools
    for tool in tools.values():
        assert tool.input_schema["type"] == "object" and tool.output_schema["type"] == "object"
        assert tool.annotations.read_only_hint is not None and tool.annotations.idempotent_hint is not None
    assert tools["lakehouse_rate"].annotations.read_only_hint is False
    assert tools["lakehouse_sql"].annotations.read_only_hint is True
    # a listing takes limit / offset and answers total / has_more
    corpora = tools["lakehouse_list_corpora"]
    assert {"limit", "offset"} <= set(corpora.input_schema["properties"])
    assert {"corpora", "total", "has_more"} <= set(corpora.output_schema["required"])


def test_search_sql_run_and_rate(mcp_http):
    async def session():
        async with mcp_http.client() as client:
            tools = {t.name: t for t in await client.list_tools()}
            results = [
                await client.call_tool(name, args)
                for name, args in (
                    (
                        "lakehouse_search",
                        {"query": "nurse in an intensive care unit", "corpora": ["health"], "top_n": 3},
                    ),
                    ("lakehouse_sql", {"sql": 'SELECT "O*NET-SOC Code" AS code FROM health ORDER BY 1 LIMIT 2'}),
                    ("lakehouse_run_workflow", {"workflow": "hello-lakehouse", "inputs": {"text": "over http"}}),
                    ("lakehouse_rate", {"query": "icu nurse", "corpus": "health", "id": NURSE, "verdict": "good"}),
                )
            ]
            return tools, results

    tools, (search, sql, ran, rate) = run(session)
    for name, result in zip(("search", "sql", "run_workflow", "rate"), (search, sql, ran, rate), strict=True):
        jsonschema.validate(result.structured_content, tools[f"lakehouse_{name}"].output_schema)
    assert search.structured_content["count"] == 3 and all(
        h["corpus"] == "health" for h in search.structured_content["hits"]
    )
    assert sql.structured_content["columns"] == ["code"] and len(sql.structured_content["rows"]) == 2
    assert ran.structured_content["status"] == "completed"
    assert ran.structured_content["nodes"]["shout"]["output"] == {"text": "OVER HTTP"}
    assert rate.structured_content["recorded"] == 1


def test_listings_page_with_limit_and_offset(mcp_http):
    async def session():
        async with mcp_http.client() as client:
            for _ in range(4):  # ops of its own: the test runs alone too, or first
                await client.call_tool("lakehouse_list_corpora", {"limit": 1})
            first = await client.call_tool("lakehouse_ops_query", {"source": "mcp", "limit": 2})
            second = await client.call_tool("lakehouse_ops_query", {"source": "mcp", "limit": 2, "offset": 2})
            corpora = await client.call_tool("lakehouse_list_corpora", {"limit": 1})
            return first.structured_content, second.structured_content, corpora.structured_content

    first, second, corpora = run(session)
    assert first["count"] == 2 and first["has_more"] is True and first["total"] >= 4
    assert {op["op_id"] for op in first["ops"]}.isdisjoint(op["op_id"] for op in second["ops"])
    assert all(op["source"] == "mcp" for op in first["ops"] + second["ops"])
    # oldest first: the calls that list add ops at the end, so the pages stay put
    assert first["ops"][0]["ts_start"] <= first["ops"][1]["ts_start"] <= second["ops"][0]["ts_start"]
    assert corpora == {
        "corpora": corpora["corpora"],
        "count": 1,
        "total": 1,
        "offset": 0,
        "limit": 1,
        "has_more": False,
    }
    assert corpora["corpora"][0]["name"] == "health"


def test_every_call_is_an_op_with_source_mcp(mcp_http):
    async def session():
        async with mcp_http.client() as client:
            await client.call_tool("lakehouse_describe_table", {"table": "health"})
            return await client.call_tool(
                "lakehouse_ops_query",
                {"sql": "SELECT mode, status FROM ops WHERE source = 'mcp' AND mode = 'mcp.describe_table'"},
            )

    answer = run(session).structured_content
    assert answer["columns"] == ["mode", "status"] and ["mcp.describe_table", "completed"] in answer["rows"]


def test_workflows_are_prompts_and_mode_schemas_are_resources(mcp_http):
    async def session():
        async with mcp_http.client() as client:
            prompts = {p.name: p for p in await client.list_prompts()}
            rendered = await client.get_prompt("hello-lakehouse", {"text": "from a prompt"})
            resources = {str(r.uri) for r in await client.list_resources()}
            templates = [t.uri_template for t in await client.list_resource_templates()]
            schema = await client.read_resource("lakehouse://modes/matrix.search/schema")
            return prompts, rendered, resources, templates, schema

    prompts, rendered, resources, templates, schema = run(session)
    assert {"hello-lakehouse", "staffing-match", "knowledge-extract"} <= set(prompts)
    hello = prompts["hello-lakehouse"]
    assert hello.description.startswith("The smallest useful workflow")
    assert [(a.name, a.required) for a in hello.arguments] == [("text", False)]
    message = rendered.messages[0].content.text
    assert "lakehouse_run_workflow" in message and '"inputs": {"text": "from a prompt"}' in message
    assert {"lakehouse://modes/matrix.search/schema", "lakehouse://modes/sql.query/schema"} <= resources
    assert not any(uri.startswith("lakehouse://modes/mcp.") for uri in resources)  # the tools' own adapters
    assert templates == ["lakehouse://modes/{name}/schema"]
    body = json.loads(text_of_resource(schema))
    assert body["name"] == "matrix.search" and "query" in body["input"]["properties"]
    assert "hits" in body["output"]["properties"]


def text_of_resource(contents) -> str:
    return contents[0].text


def test_a_failing_tool_says_what_to_try_next(mcp_http):
    async def session():
        async with mcp_http.client() as client:
            return await client.call_tool(
                "lakehouse_search", {"query": "nurse", "corpora": ["helth"]}, raise_on_error=False
            )

    result = run(session)
    assert result.is_error
    assert "corpus 'helth' not found" in text_of(result) and "see lakehouse_list_corpora" in text_of(result)
