"""An API with no Prefect server of its own starts Prefect's temporary server once, however many
runs start together, and stops it when it stops (two first runs at once used to start two, and the
first was left running after the API exited). A real `lakehouse api` without PREFECT_API_URL."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.http import api_process, finished_run

pytestmark = pytest.mark.prefect

QUICK = """
name: together
nodes:
  - {id: say, mode: fixture.echo, with: {value: "one server"}}
"""


def _temporary_servers(parent: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            ppid = int(status.read_text().split("PPid:")[1].split()[0])
            command = (status.parent / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue  # ended while we looked
        if ppid == parent and b"prefect.server.api.server:create_app" in command:
            found.append(int(status.parent.name))
    return found


def test_two_first_runs_at_once_share_one_temporary_server_which_stops_with_the_api(tmp_path):
    with (
        api_process(tmp_path, env={"PREFECT_API_URL": ""}) as (url, proc),
        httpx.Client(base_url=url, timeout=300) as c,
    ):
        ids = []
        for _ in range(2):
            answer = c.post("/v1/observer/workflow/run", params={"wait": "false"}, json={"yaml": QUICK})
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["run_id"])
        assert [finished_run(c, run_id)["status"] for run_id in ids] == ["completed", "completed"]
        servers = _temporary_servers(proc.pid)
        assert len(servers) == 1, servers
    deadline = time.monotonic() + 60
    while Path(f"/proc/{servers[0]}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not Path(f"/proc/{servers[0]}").exists(), "the temporary server outlived the API"
