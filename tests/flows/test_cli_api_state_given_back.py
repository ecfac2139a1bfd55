"""A second `lakehouse api` of a home gives `api.json` back to the first when it stops, only if
that first API still lives: a pid that came round to another process is not it."""

from __future__ import annotations

import json
import subprocess
import sys

from flows.cli.remote import remove_state, state_path, write_state
from lakehouse.common.processes import process_identity


def _first_api(home, pid: int, started: str | None) -> dict:
    return {
        "url": "http://127.0.0.1:1",
        "host": "127.0.0.1",
        "port": 1,
        "pid": pid,
        "started": started,
        "home": str(home),
    }


def test_the_file_goes_back_to_the_api_before_while_it_lives(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        before = _first_api(tmp_path, other.pid, process_identity(other.pid))
        write_state(tmp_path, "127.0.0.1", 2)
        remove_state(tmp_path, before)
        assert json.loads(state_path(tmp_path).read_text())["pid"] == other.pid
    finally:
        other.kill()
        other.wait()


def test_a_pid_that_came_round_to_another_process_gets_nothing_back(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        before = _first_api(tmp_path, other.pid, "12345.0")  # the first API started at another time
        write_state(tmp_path, "127.0.0.1", 2)
        remove_state(tmp_path, before)
        assert not state_path(tmp_path).exists()
    finally:
        other.kill()
        other.wait()
