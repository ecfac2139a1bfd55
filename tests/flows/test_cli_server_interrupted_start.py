"""Ctrl-C during `server start` exited 130 with nothing said, and left the server starting in its
own session: `server status` then called that running, answering server "not running". `status`
says a live server is starting, and `start` answers Ctrl-C with what goes on running and how to
stop it. A process named as a Prefect server of this home stands for one that never answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import flows.cli.server as server_cli
from flows.prefect_env import server_file
from tests.fixtures.cli import invoke_cli
from tests.fixtures.http import free_port


@pytest.fixture
def starting_server(lh_home):
    env = {**os.environ, "PREFECT_HOME": os.environ.get("PREFECT_HOME", "")}  # what marks it as this home's
    stand_in = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(300)", "prefect", "server"], env=env, start_new_session=True
    )
    port = free_port()
    info = {"pid": stand_in.pid, "api_url": f"http://127.0.0.1:{port}/api", "log": "x.log", "starting": True}
    lh_home.mkdir(parents=True, exist_ok=True)
    server_file(lh_home).write_text(json.dumps(info))
    try:
        yield stand_in.pid, port
    finally:
        stand_in.kill()
        stand_in.wait()


def test_status_says_a_live_server_is_starting(starting_server):
    pid, port = starting_server
    said = " ".join(invoke_cli("server", "status", code=1).stdout.split())
    assert said == (
        f"starting at http://127.0.0.1:{port} (pid {pid}), not in use until it answers: "
        "`lakehouse server start` waits for it, `lakehouse server stop` ends it"
    )
    data = json.loads(invoke_cli("server", "status", "--json", code=1).stdout)
    assert data["starting"] is True and data["running"] is False and data["ui_url"] == f"http://127.0.0.1:{port}"


def test_ctrl_c_while_start_waits_says_what_goes_on_running(starting_server, lh_home, monkeypatch):
    pid, port = starting_server

    def interrupted(api_url: str) -> bool:
        raise KeyboardInterrupt  # Ctrl-C while start asks whether the server answers yet

    monkeypatch.setattr(server_cli, "_healthy", interrupted)
    result = invoke_cli("server", "start", "--port", str(port), "--timeout", "60", code=130)
    assert " ".join(result.stderr.split()) == (
        f"error: interrupted: the Prefect server (pid {pid}, UI http://127.0.0.1:{port}) goes on starting in the "
        "background: `lakehouse server status` shows it, `lakehouse server stop` ends it"
    )
    assert json.loads(server_file(lh_home).read_text())["pid"] == pid
