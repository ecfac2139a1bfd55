"""`lakehouse mcp --http` sits behind `lakehouse api`'s access control: with LH_API_TOKEN set, a
request without the token, or with a wrong one, is a 401 before any MCP message is read; and a
loopback server refuses a foreign Host header (DNS rebinding), token or not."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures import mcp as fixtures
from tests.fixtures.mcp import run

mcp_home = fixtures.mcp_home  # the fixture
mcp_http = fixtures.mcp_http  # the fixture

pytestmark = pytest.mark.prefect

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", "Basic bWNwOnRva2Vu"])
def test_no_or_wrong_token_is_401(mcp_http, authorization):
    headers = ACCEPT | ({"Authorization": authorization} if authorization else {})
    response = httpx.post(mcp_http.url, json=INITIALIZE, headers=headers, timeout=30)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["type"] == "unauthorized"


def test_the_client_without_a_token_cannot_connect(mcp_http):
    async def session():
        async with mcp_http.client(token=None) as client:
            await client.list_tools()

    with pytest.raises(Exception, match="error response"):  # the client's word for the 401
        run(session)


def test_the_client_with_the_token_connects(mcp_http):
    async def session():
        async with mcp_http.client() as client:
            return await client.list_tools()

    assert "lakehouse_search" in {tool.name for tool in run(session)}


def test_a_foreign_host_header_is_refused(mcp_http):
    headers = ACCEPT | {"Authorization": f"Bearer {fixtures.TOKEN}", "Host": "attacker.example"}
    response = httpx.post(mcp_http.url, json=INITIALIZE, headers=headers, timeout=30)
    assert response.status_code == 421
