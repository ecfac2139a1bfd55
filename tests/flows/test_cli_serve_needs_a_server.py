"""`lakehouse serve` on Prefect's temporary server served nothing: that server runs no scheduler
(no scheduled run was ever made) and no other process can reach it to trigger a run. It now
serves on the home's server (started when none runs) or PREFECT_API_URL's, and says so when it
has neither."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from flows.cli.server import DEFAULT_PORT
from flows.prefect_env import server_file
from tests.fixtures.cli import LAKEHOUSE, own_home_env
from tests.fixtures.serve import Serving, lakehouse_serve


def _env(home: Path, **extra: str) -> dict[str, str]:
    return own_home_env(home, LH_EMBED_MODEL="wordllama", **extra)


def test_serve_without_a_server_and_no_automatic_start_says_what_it_needs(tmp_path):
    env = _env(tmp_path / "home", LH_PREFECT_AUTOSTART="false")
    result = subprocess.run([LAKEHOUSE, "serve"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    said = " ".join(result.stderr.split())
    assert "`lakehouse serve` needs a Prefect server, and none runs for this home" in said
    assert "LH_PREFECT_AUTOSTART=false" in said and "`lakehouse server start`" in said
    assert "Your deployments are being served" not in result.stdout


@pytest.mark.prefect
def test_serve_starts_the_home_server_whose_scheduler_makes_the_nightly_runs(tmp_path):
    home = tmp_path / "home"
    env = _env(home, PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2")
    with _holding_the_default_port(), lakehouse_serve(env, tmp_path, tmp_path / "serve.log") as serving:
        try:
            api_url = _started_server(home, serving)
            runs = _scheduled_runs(api_url, "drift-nightly", serving.process)
            assert runs, f"no scheduled drift-nightly run on the home's server\n{serving.tail()}"
            assert {run.state.type.value for run in runs} == {"SCHEDULED"}
            assert "started a local Prefect server" in serving.log.read_text()
        finally:
            subprocess.run([LAKEHOUSE, "server", "stop"], env=env, capture_output=True, text=True)


@contextmanager
def _holding_the_default_port() -> Iterator[None]:
    """The server a run starts takes port 4200 when it is free; a test takes another."""
    with socket.socket() as sock:
        with suppress(OSError):  # taken already: the server takes another one anyway
            sock.bind(("127.0.0.1", DEFAULT_PORT))
            sock.listen()
        yield


def _started_server(home: Path, serving: Serving) -> str:
    for _ in range(360):  # bounded poll, not timed
        info = json.loads(server_file(home).read_text()) if server_file(home).exists() else {}
        if info.get("api_url") and not info.get("starting"):
            return info["api_url"]
        assert serving.process.poll() is None, serving.tail()
        time.sleep(0.5)
    pytest.fail(f"serve started no server for the home\n{serving.tail()}")


def _scheduled_runs(api_url: str, deployment: str, serving: subprocess.Popen) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
    from prefect.settings import PREFECT_API_URL, temporary_settings

    named = DeploymentFilter(name=DeploymentFilterName(any_=[deployment]))
    runs: list = []
    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        for _ in range(180):  # bounded poll, not timed: serve registers, the scheduler passes every 2 s
            runs = client.read_flow_runs(deployment_filter=named)
            if runs or serving.poll() is not None:
                break
            time.sleep(1)
    return runs
