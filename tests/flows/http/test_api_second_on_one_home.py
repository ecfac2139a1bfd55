"""A second `lakehouse api` of the same LH_HOME. On a port in use it announced itself, wrote
LH_HOME/api.json, failed after start-up with uvicorn's exit 3 and removed the file on its way out:
the RUNNING API's file, so CLI calls stopped reaching it. It is refused before anything is written
now, and one that served and stopped gives the file back to the API it took it from."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.http import api_process, free_port, spawn_api


@pytest.fixture(scope="module")
def first_api(tmp_path_factory):
    """One running API for both cases (each leaves it and its state file as they were)."""
    root = tmp_path_factory.mktemp("first-api")
    with api_process(root) as (url, process):
        yield root / "home", url, process


def _pid_in_state(home: Path) -> int:
    return json.loads((home / "api.json").read_text())["pid"]


def test_a_port_in_use_is_refused_before_the_state_is_touched(first_api):
    home, url, first = first_api
    port = int(url.rsplit(":", 1)[1])
    second = spawn_api(home, port, merged=False)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 1, err
    assert f"port {port} on 127.0.0.1 is in use (another `lakehouse api` or `lakehouse mcp --http`" in err
    assert "Lakehouse API on" not in out  # nothing announced
    assert _pid_in_state(home) == first.pid
    assert httpx.get(f"{url}/v1/observer/stats", timeout=10).status_code == 200


def test_a_second_api_that_stops_gives_the_state_back(first_api):
    home, _url, first = first_api
    second = spawn_api(home, free_port(), merged=False)
    try:
        deadline = time.monotonic() + 180
        while _pid_in_state(home) != second.pid:
            assert second.poll() is None, second.communicate()[1]
            assert time.monotonic() < deadline, "the second API did not start"
            time.sleep(0.2)
    finally:
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=60)
    assert _pid_in_state(home) == first.pid
