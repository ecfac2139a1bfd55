"""`lakehouse_ask` is there because mode `ask` is: a question nothing in the corpus answers gets
the "no relevant hit" answer, and no model is asked (none is even configured here)."""

from __future__ import annotations

import shutil

import jsonschema
from fastmcp import Client

from flows.mcp.server import build_server
from lakehouse.config import Settings
from tests.fixtures.mcp import run
from tests.fixtures.vectors import HEALTH_MODEL

SOURDOUGH = "how do I bake sourdough bread"


def test_ask_without_a_relevant_hit_asks_no_model(health_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(health_home, home)
    server = build_server(Settings(home=home, embed_model=HEALTH_MODEL))

    async def session():
        async with Client(server) as client:
            tool = next(t for t in await client.list_tools() if t.name == "lakehouse_ask")
            return tool, await client.call_tool("lakehouse_ask", {"question": SOURDOUGH, "corpora": ["health"]})

    tool, result = run(session)
    assert tool.annotations.open_world_hint is True and tool.annotations.idempotent_hint is False
    jsonschema.validate(result.structured_content, tool.output_schema)
    answer = result.structured_content
    assert (answer["called_llm"], answer["model"], answer["grounded"], answer["cited_hits"]) == (False, None, False, [])
