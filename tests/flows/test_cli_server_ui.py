"""The Prefect UI of the server `lakehouse server start` runs shows the home's runs, offline, on
whatever port the server has. Prefect's UI takes its API address from Prefect's port setting (4200),
not from `--port`: on any other port (`--port N`, or the free port a run's auto-start takes when
4200 is busy) it said "Can't connect to Server API at http://127.0.0.1:4200/api" and listed no run,
or listed another server's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import pytest
from playwright.sync_api import expect

from tests.fixtures.browser import shoot
from tests.fixtures.cli import LAKEHOUSE, own_home_env
from tests.fixtures.http import free_port

pytestmark = pytest.mark.prefect


def test_the_prefect_ui_on_another_port_lists_the_home_runs(tmp_path, console):
    env = own_home_env(tmp_path / "home")
    port = free_port()

    def lakehouse(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([LAKEHOUSE, *args], env=env, capture_output=True, text=True, timeout=300)

    try:
        started = lakehouse("server", "start", "--port", str(port), "--json")
        assert started.returncode == 0, started.stderr
        ran = lakehouse("workflow", "run", "hello-lakehouse", "--input", "text=hi", "--json")
        assert ran.returncode == 0, ran.stderr
        assert json.loads(ran.stdout)["status"] == "completed"

        console.goto(f"http://127.0.0.1:{port}/runs")
        expect(console.get_by_text("hello-lakehouse").first).to_be_visible()
        expect(console.get_by_text("Completed").first).to_be_visible()
        shoot(console, "prefect-ui-runs")
        assert "Can't connect to Server API" not in console.inner_text("body")
    finally:
        lakehouse("server", "stop")


def test_a_ui_api_address_the_user_set_wins(monkeypatch):
    from flows.cli.server import _ui_reaches

    monkeypatch.delenv("PREFECT_UI_API_URL", raising=False)
    monkeypatch.delenv("PREFECT_SERVER_UI_API_URL", raising=False)
    assert _ui_reaches(19999) == {"PREFECT_UI_API_URL": "http://127.0.0.1:19999/api"}
    monkeypatch.setenv("PREFECT_SERVER_UI_API_URL", "https://prefect.example.org/api")  # behind a proxy
    assert _ui_reaches(19999) == {}


def test_the_production_server_ui_takes_its_api_address_from_prefect_api_url(tmp_path):
    """deployments/README.md's server (`python -m flows.prefect_server server start`) on a machine
    whose PREFECT_API_URL names it, as every machine's does there: the UI must use that address
    (browsers on other machines reach it), not Prefect's port default."""
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"  # stands for http://prefect-host:4200/api
    env = own_home_env(tmp_path / "home", PREFECT_API_URL=api_url)
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_UI_ENABLED": "true"}
    with open(tmp_path / "server.log", "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "flows.prefect_server", "server", "start", "--host", "127.0.0.1", f"--port={port}"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        settings = None
        for _ in range(360):  # bounded poll, not timed
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                settings = httpx.get(f"http://127.0.0.1:{port}/ui-settings", timeout=2).json()
                break
            except (httpx.HTTPError, ValueError):
                time.sleep(0.5)
        assert settings is not None and settings["api_url"] == api_url, settings
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
