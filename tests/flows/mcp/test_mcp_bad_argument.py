"""A bad argument is an MCP tool error (not a protocol error) whose text names the field and says
what to do next; the failed call is still an op with source `mcp`. The real fastmcp Client talks
to the real server in-process (fastmcp's in-memory transport)."""

from __future__ import annotations

import pytest
from fastmcp import Client

from flows.mcp.server import build_server
from lakehouse.config import Settings
from tests.fixtures.mcp import run, text_of


@pytest.fixture
def server(tmp_path):
    return build_server(Settings(home=tmp_path / "home"))


def _call(server, tool: str, args: dict):
    async def session():
        async with Client(server) as client:
            return await client.call_tool(tool, args, raise_on_error=False)

    return run(session)


def test_a_missing_field_is_named(server, tmp_path):
    result = _call(server, "lakehouse_search", {"corpora": ["health"]})
    assert result.is_error and result.structured_content is None
    assert text_of(result).startswith("query: Field required — fix the argument named and call lakehouse_search again")
    ops = Settings(home=tmp_path / "home").ops_log.read_text()
    assert '"source":"mcp"' in ops and '"status":"failed"' in ops


def test_an_unknown_field_gets_a_suggestion(server):
    result = _call(server, "lakehouse_sql", {"sq1": "SELECT 1"})
    assert result.is_error
    assert "sq1: unknown field 'sq1'" in text_of(result) and "sql" in text_of(result)


def test_a_bad_page_is_named(server):
    result = _call(server, "lakehouse_list_corpora", {"limit": 0})
    assert result.is_error
    assert text_of(result).startswith("limit: Input should be greater than or equal to 1")


def test_a_path_outside_the_roots_is_refused(server):
    result = _call(server, "lakehouse_rate", {"file": "/etc/passwd"})
    assert result.is_error
    assert "file" in text_of(result) and "allowed root" in text_of(result)


def test_arguments_nested_past_the_limit_are_refused_and_store_nothing(server, tmp_path):
    deep = "x"
    for _ in range(100):
        deep = [deep]
    result = _call(server, "lakehouse_pathway_add", {"text": "welder", "metadata": {"a": deep}})
    assert result.is_error
    assert text_of(result) == "the arguments nest 102 levels of lists and objects; at most 64 are accepted"
    assert not (tmp_path / "home" / "pathway.jsonl").exists()
