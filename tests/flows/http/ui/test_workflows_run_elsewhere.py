"""A run the console did not start (the CLI's here; a worker's or the console's before a restart
likewise) read "completed" as soon as one node had an op, stopped polling and hid the nodes still
to run. Its page now reads its status from the run's lock (running; crashed when its process was
killed) and lists every node from the run's record; a failed run resumed once points at its resume
instead of offering another."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.http import api_process

pytestmark = pytest.mark.prefect

SLOW = """\
name: elsewhere
nodes:
  - {id: quick, mode: fixture.echo, with: {value: 1}}
  - {id: nap, mode: fixture.sleep, depends_on: [quick], with: {seconds: 15}}
  - {id: after, mode: fixture.echo, depends_on: [nap], with: {value: 2}}
"""

FAILS = """\
name: fails-once
nodes:
  - {id: need, mode: fixture.require_file, with: {path: flag.txt}}
  - {id: after, mode: fixture.echo, depends_on: [need], with: {value: 2}}
"""


def _status(page: str) -> str:
    found = re.search(r'data-testid="run-status">(\w+)<', page)
    assert found, page[:2000]
    return found.group(1)


def _cli(home: Path, prefect: str, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LH_")}
    env |= {"LH_HOME": str(home), "PREFECT_API_URL": prefect}
    cli = str(Path(sys.executable).with_name("lakehouse"))
    return subprocess.Popen([cli, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _first_op(home: Path, node: str) -> str:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        ops = home / "ops.jsonl"
        for line in ops.read_text().splitlines() if ops.exists() else []:
            op = json.loads(line)
            if op.get("node_id") == node and op.get("status") == "completed":
                return op["run_id"]
        time.sleep(0.2)
    raise AssertionError(f"no op of {node} came")


@pytest.fixture(scope="module")
def site(prefect_server, tmp_path_factory):
    base = tmp_path_factory.mktemp("elsewhere")
    (base / "home" / "workflows").mkdir(parents=True)
    (base / "home" / "workflows" / "elsewhere.yaml").write_text(SLOW)
    (base / "home" / "workflows" / "fails-once.yaml").write_text(FAILS)
    with api_process(base, env={"PREFECT_API_URL": prefect_server}) as (url, _proc):
        yield url, base / "home", prefect_server


def test_a_cli_run_reads_running_with_every_node_until_it_ends(site):
    url, home, prefect = site
    run = _cli(home, prefect, "workflow", "run", "elsewhere", "--json")
    run_id = _first_op(home, "quick")
    page = httpx.get(f"{url}/ui/workflows/runs/{run_id}", timeout=60).text
    assert run.poll() is None, "the run ended before the page was read: a longer nap is needed"
    assert _status(page) == "running" and f'hx-get="/ui/workflows/runs/{run_id}/live"' in page
    assert all(f'data-node="{node}"' in page for node in ("quick", "nap", "after"))
    assert run.wait(timeout=180) == 0, run.communicate()
    assert _status(httpx.get(f"{url}/ui/workflows/runs/{run_id}", timeout=60).text) == "completed"


def test_a_failed_run_resumed_once_points_at_its_resume(site):
    url, home, prefect = site
    failed = _cli(home, prefect, "workflow", "run", "fails-once", "--json")
    assert failed.wait(timeout=180) == 1
    parent = json.loads(failed.communicate()[0])["run_id"]
    page = httpx.get(f"{url}/ui/workflows/runs/{parent}", timeout=60).text
    assert _status(page) == "failed" and "Resume this run" in page
    (home / "flag.txt").write_text("ready")
    resumed = _cli(home, prefect, "workflow", "resume", parent, "--json")
    assert resumed.wait(timeout=180) == 0
    child = json.loads(resumed.communicate()[0])["run_id"]
    page = httpx.get(f"{url}/ui/workflows/runs/{parent}", timeout=60).text
    assert f'Resumed by run <a href="/ui/workflows/runs/{child}">' in page and "Resume this run" not in page
