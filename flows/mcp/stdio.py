"""`lakehouse mcp` over stdio, with every line screened before the MCP library parses it.

The library's pydantic parser gives up on a message nested a few hundred levels deep, logs that at
debug level and answers nothing, so the client waits for ever. Such a line is answered here (JSON-RPC
"invalid request", with the request's id found by a scan that does not recurse) and never reaches
the parser; shallower messages go on to the tools, which refuse arguments deeper than 64 levels
with a message naming them. Otherwise this is fastmcp's `run_stdio_async`: the same lifespan, the
same low-level server, the protocol on the process's own stdin and stdout, which are pointed at
/dev/null and stderr while it serves, so a child process or a stray print cannot touch the wire.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from io import TextIOWrapper
from typing import Any

import anyio
import mcp_types as types
from fastmcp import FastMCP
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage

from lakehouse.common.text import JSON_STRING, MAX_JSON_DEPTH, bracket_depth

# Deeper than this, a line is answered here. Above the arguments' own limit (the envelope adds a
# few levels), so a message between the two still gets the tool's message naming its arguments.
MAX_MESSAGE_DEPTH = 2 * MAX_JSON_DEPTH
_TOKEN = re.compile(JSON_STRING + r"|[\[\]{}:,]|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?", re.DOTALL)


NO_ID = object()  # a notification: no `id` member, so no answer


def _decoded(token: str) -> object:
    """A JSON string token's value (None when it is not valid JSON, e.g. a bad escape)."""
    try:
        return json.loads(token)
    except ValueError:
        return None


def request_id(line: str) -> object:
    """The `id` member of the top-level object of a JSON-RPC line, found without parsing the rest:
    a string or an integer; None when there is one but it is not such a value (the answer then
    says `"id": null`, as JSON-RPC has it); NO_ID when there is none (a notification)."""
    depth, previous = 0, ""
    tokens = _TOKEN.finditer(line)
    for match in tokens:
        token = match.group()
        if token in "[{":
            depth += 1
        elif token in "]}":
            depth -= 1
        elif token == ":" and depth == 1 and previous.startswith('"') and _decoded(previous) == "id":
            value = next(tokens, None)
            text = value.group() if value else ""
            if text.startswith('"'):
                found = _decoded(text)
                # an id the answer could not carry (a lone surrogate cannot be written as UTF-8)
                return found if isinstance(found, str) and _encodable(found) else None
            return int(text) if re.fullmatch(r"-?\d{1,16}", text) else None
        previous = token
    return NO_ID


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def refusal(line: str) -> tuple[types.JSONRPCError | None, bool]:
    """(the answer to a line nested too deeply for the MCP library, whether it is a request to
    answer); (None, False): let the line through."""
    if line.count("[") + line.count("{") <= MAX_MESSAGE_DEPTH:
        return None, False
    depth = bracket_depth(line)
    if depth <= MAX_MESSAGE_DEPTH:
        return None, False
    message = (
        f"the message nests {depth:,} levels of lists and objects; tool and prompt arguments may nest "
        f"at most {MAX_JSON_DEPTH}"
    )
    error = types.ErrorData(code=types.INVALID_REQUEST, message=message)
    found = request_id(line)
    answer_id = None if found is NO_ID else found
    return types.JSONRPCError(jsonrpc="2.0", id=answer_id, error=error), found is not NO_ID  # type: ignore[arg-type]


class _ScreenedLines:
    """The wire's lines, less those answered by `refusal` (through `reply`, the stream the library
    writes its own answers to, so two answers never interleave on the wire)."""

    def __init__(self, lines: Any) -> None:
        self.lines = lines
        self.reply: Any = None

    def __aiter__(self) -> AsyncIterator[str]:
        return self._screened()

    async def _screened(self) -> AsyncIterator[str]:
        async for line in self.lines:
            try:
                answer, is_request = refusal(line)
            except Exception as exc:  # noqa: BLE001 - the screen must never end the session
                print(f"lakehouse mcp: could not screen a message ({exc!r}); passed on", file=sys.stderr, flush=True)
                answer, is_request = None, False
            if answer is None:
                yield line
                continue
            print(f"lakehouse mcp: refused a message: {answer.error.message}", file=sys.stderr, flush=True)
            if is_request and self.reply is not None:  # a notification gets no answer
                await self.reply.send(SessionMessage(answer))


@contextmanager
def _wire() -> Iterator[tuple[Any, Any]]:
    """(stdin, stdout) of the protocol, on copies of fds 0 and 1; the fds point at /dev/null and
    stderr meanwhile, and back when done."""
    saved_in, saved_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    try:
        with (
            TextIOWrapper(os.fdopen(os.dup(saved_in), "rb"), encoding="utf-8", errors="replace") as stdin,
            TextIOWrapper(os.fdopen(os.dup(saved_out), "wb"), encoding="utf-8") as stdout,
        ):
            yield anyio.wrap_file(stdin), anyio.wrap_file(stdout)
    finally:
        os.dup2(saved_in, 0)
        os.dup2(saved_out, 1)
        os.close(saved_in)
        os.close(saved_out)


async def _serve(server: FastMCP, stdin: Any, stdout: Any) -> None:
    from fastmcp.server.context import reset_transport, set_transport

    lines = _ScreenedLines(stdin)
    token = set_transport("stdio")
    try:
        # stdio_server only iterates its stdin: the screened lines stand in for the file
        screened: Any = lines
        async with server._lifespan_manager(), stdio_server(stdin=screened, stdout=stdout) as (reader, writer):
            lines.reply = writer  # before the reader task first runs: it starts at the next await
            low_level = server._mcp_server
            await low_level.run(reader, writer, low_level.create_initialization_options())
    finally:
        reset_transport(token)


def run_stdio(server: FastMCP) -> None:
    with _wire() as (stdin, stdout):
        anyio.run(_serve, server, stdin, stdout)
