"""The Prefect server `lakehouse server start` runs makes the runs of scheduled deployments (the
nightly and weekly jobs). With SQLAlchemy 2.1 its scheduler failed on every pass ("Can't evaluate
bulk DML statement") and no scheduled run was ever made; only triggered runs ran."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from tests.fixtures.cli import LAKEHOUSE
from tests.fixtures.http import free_port

SCHEDULED = textwrap.dedent(
    """
    import asyncio, sys
    from prefect import flow
    from prefect.client.orchestration import get_client

    @flow(name="every-minute-probe")
    def probe():
        pass

    probe.to_deployment(name="every-minute", cron="* * * * *").apply()

    async def scheduled():
        async with get_client() as client:
            return len(await client.read_flow_runs())

    deadline = __import__("time").monotonic() + 180
    while (found := asyncio.run(scheduled())) == 0 and __import__("time").monotonic() < deadline:
        __import__("time").sleep(2)
    print(found)
    """
)


@pytest.mark.prefect
def test_the_server_makes_the_runs_of_a_scheduled_deployment(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    env |= {"LH_HOME": str(tmp_path / "home"), "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2"}
    cli = LAKEHOUSE
    port = free_port()
    try:
        started = subprocess.run([cli, "server", "start", "--port", str(port)], env=env, capture_output=True, text=True)
        assert started.returncode == 0, started.stderr + started.stdout
        began = time.monotonic()
        script = tmp_path / "scheduled.py"  # Prefect deploys flows defined in a file only
        script.write_text(SCHEDULED)
        made = subprocess.run(
            [sys.executable, str(script)],
            env={**env, "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert made.returncode == 0, made.stderr
        log = (tmp_path / "home" / "prefect-server.log").read_text()
        assert int(made.stdout.split()[-1]) >= 1, (
            f"no scheduled run after {time.monotonic() - began:.0f} s\n{log[-3000:]}"
        )
        assert "Can't evaluate bulk DML statement" not in log
    finally:
        subprocess.run([cli, "server", "stop"], env=env, capture_output=True, text=True)
