"""`lakehouse mcp --http` stopped with SIGTERM after a workflow run: the temporary Prefect server
that run started (no Prefect server configured) stops with it. Uvicorn re-raised the signal after
its graceful shutdown and the process died on it, before Prefect's exit handler: the server was
left running, reparented to init, for good."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from tests.fixtures import mcp as fixtures
from tests.fixtures.mcp import mcp_env, run, start_mcp_http, text_of

mcp_home = fixtures.mcp_home  # the fixture


def prefect_servers_of(home: Path) -> list[int]:
    """Pids of Prefect server processes whose LH_HOME is `home`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"prefect.server" in cmdline and f"LH_HOME={home}".encode() in environ:
            found.append(int(entry.name))
    return found


def test_sigterm_stops_the_temporary_prefect_server_of_its_runs(mcp_home):
    env = mcp_env(mcp_home, "")
    env.pop("PREFECT_API_URL")  # Prefect starts its temporary server for the first run
    proc, url = start_mcp_http(env)
    try:

        async def session():
            async with Client(StreamableHttpTransport(url), timeout=300) as client:
                return await client.call_tool("lakehouse_run_workflow", {"workflow": "hello-lakehouse"})

        assert '"status": "completed"' in text_of(run(session))
        started = prefect_servers_of(mcp_home)
        assert started, "the run did not start a temporary Prefect server: nothing to check"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM  # SystemExit: exit handlers ran
        deadline = time.monotonic() + 30
        while prefect_servers_of(mcp_home) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert prefect_servers_of(mcp_home) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in prefect_servers_of(mcp_home):  # (it would hold our pipe open) never left to the next test
            subprocess.run(["kill", str(pid)], check=False)
        proc.communicate(timeout=30)
