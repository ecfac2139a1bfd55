"""`lakehouse mcp` over stdio answers a message nested too deeply for the MCP library to parse: the
library dropped it (a debug log line) and the client waited for ever. The real process, driven by
raw JSON-RPC lines (a client library would refuse to build such a message)."""

from __future__ import annotations

import json
import select
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.mcp.stdio import MAX_MESSAGE_DEPTH, NO_ID, refusal, request_id
from tests.fixtures import mcp as fixtures
from tests.fixtures.http import REPO
from tests.fixtures.mcp import mcp_env

mcp_home = fixtures.mcp_home  # the fixture


class Wire:
    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def answer(self, timeout: float = 120) -> dict:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, "no answer"
        return json.loads(self.proc.stdout.readline())


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_a_message_too_deep_to_parse_is_answered_and_the_session_goes_on(mcp_home):
    env = mcp_env(mcp_home, "http://127.0.0.1:9/api")  # no workflow runs here
    command = [sys.executable, "-c", "from flows.cli import main; main()", "mcp"]
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    wire = Wire(proc)
    try:
        hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
        wire.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello}))
        assert wire.answer()["id"] == 1
        wire.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        call = '{"jsonrpc": "2.0", "id": "deep-1", "method": "tools/call", "params": {"name": "lakehouse_sql", '
        wire.send(call + f'"arguments": {{"sql": "select 1", "x": {nested(5_000)}}}}}}}')
        answer = wire.answer()
        assert answer["id"] == "deep-1" and answer["error"]["code"] == -32600
        assert (
            "the message nests 5,003 levels of lists and objects; tool and prompt arguments may nest at most 64"
            in (answer["error"]["message"])
        )
        # an id the screen cannot decode is answered with null (it ended the process)
        wire.send('{"jsonrpc": "2.0", "id": "\\x", "method": "tools/list", "params": ' + nested(300) + "}")
        assert wire.answer()["id"] is None
        # a notification that deep is dropped (nothing to answer), and the session still works
        wire.send('{"jsonrpc": "2.0", "method": "notifications/progress", "params": {"x": ' + nested(500) + "}}")
        wire.send(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 2,
                    "method": "tools/call",
                    "params": {"name": "lakehouse_sql", "arguments": {"sql": "select 41 + 1 as n"}},
                }
            )
        )
        answer = wire.answer()
        assert answer["id"] == 2 and "42" in json.dumps(answer["result"]), answer
        # shallower than the wire's limit: the tool's own check names the arguments
        wire.send(call + f'"arguments": {{"sql": "select 1", "x": {nested(100)}}}}}}}')
        answer = wire.answer()
        assert "the arguments nest 101 levels" in answer["result"]["content"][0]["text"]
    finally:
        proc.kill()
        proc.communicate(timeout=30)


request_ids = st.one_of(st.integers(-(2**53), 2**53), st.text(max_size=20))
values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=20,
)


@given(request_ids, st.text(max_size=20), values, st.booleans())
def test_the_id_is_found_without_parsing_wherever_it_sits(rid, method, params, id_last):
    """The scan finds the top-level id of any request, ahead of or behind params that may hold
    strings like '"id":' and their own "id" keys (not top-level: never taken)."""
    members = [("jsonrpc", "2.0"), ("method", method), ("params", {"id": "inner", "x": params})]
    members.insert(len(members) if id_last else 0, ("id", rid))
    line = json.dumps(dict(members))
    assert request_id(line) == rid
    assert request_id(json.dumps({"jsonrpc": "2.0", "method": method, "params": {"id": 7}})) is NO_ID


def test_a_message_at_the_limit_goes_through_to_the_library_and_one_level_more_is_answered():
    def line_of(depth: int) -> str:  # the envelope is the first level
        return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "m"})[:-1] + ', "p": ' + nested(depth - 1) + "}"

    assert refusal(line_of(MAX_MESSAGE_DEPTH)) == (None, False)
    refused, is_request = refusal(line_of(MAX_MESSAGE_DEPTH + 1))
    assert refused is not None and refused.id == 1 and is_request


@pytest.mark.parametrize(
    ("member", "answered_id"),
    [
        ('"id": "\\x"', None),  # a bad escape: the answer says null
        ('"id": "\\ud800"', None),  # a lone surrogate: it could not be written back
        ('"id": "a\tb"', None),  # a raw control character
        ('"id": 7.5', None),
        ('"id": 12345678901234567890', None),
        ('"\\u0069d": 9', 9),  # the key written with an escape is still `id`
        ('"id": null', None),
    ],
)
def test_an_id_the_scan_cannot_carry_is_answered_with_null_never_raised(member, answered_id):
    """A probe's deep line with `"id": "\\x"` ended the process (the screen raised); one with a
    float id was taken for a notification and left unanswered."""
    line = '{"jsonrpc": "2.0", ' + member + ', "method": "tools/list", "params": ' + nested(300) + "}"
    refused, is_request = refusal(line)
    assert is_request and refused is not None and refused.id == answered_id
    refused.model_dump_json(by_alias=True)  # what the writer sends: never a UnicodeEncodeError
    notification = '{"jsonrpc": "2.0", "method": "notifications/x", "params": ' + nested(300) + "}"
    assert refusal(notification)[1] is False
