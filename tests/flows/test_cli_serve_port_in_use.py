"""`lakehouse mcp --http` (and `lakehouse api`) on a port another program listens on is refused by
name, exit 1. uvicorn logged `[Errno 98] error while attempting to bind on address` and the command
exited 3, a code no error kind has."""

from __future__ import annotations

import socket

from tests.fixtures.cli import run_cli_process


def test_a_port_in_use_is_named_and_exits_1(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli_process("mcp", "--http", "--port", str(port), env={"LH_HOME": str(tmp_path)})
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().endswith(
        f"error: port {port} on 127.0.0.1 is in use (another `lakehouse api` or `lakehouse mcp --http`, or another "
        "program): use --port N (0 picks a free one)"
    ), done.stderr
