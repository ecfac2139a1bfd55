"""A copied (or restored) LH_HOME holds the other home's `prefect-server.json`: its `server status`
called the other's server its own, its runs went into the other's Prefect database, and its `server
stop` ended the other's server. A server is this home's only when it runs on this home's Prefect home."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.http import free_port


@pytest.mark.prefect
def test_a_copied_home_neither_uses_nor_stops_the_original_server(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    original, copy = tmp_path / "original", tmp_path / "copy"
    cli = str(Path(sys.executable).with_name("lakehouse"))

    def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [cli, *args], env={**env, "LH_HOME": str(home)}, capture_output=True, text=True, timeout=300
        )

    port = free_port()
    try:
        started = run(original, "server", "start", "--port", str(port))
        assert started.returncode == 0, started.stderr + started.stdout
        shutil.copytree(original, copy, symlinks=True, ignore=shutil.ignore_patterns("*.lock"))
        status = run(copy, "server", "status", "--json")
        assert status.returncode == 1
        assert json.loads(status.stdout)["running"] is False
        assert json.loads(run(copy, "server", "stop", "--json").stdout) == {"stopped": False}
        assert json.loads(run(original, "server", "status", "--json").stdout)["healthy"] is True
    finally:
        stopped = run(original, "server", "stop", "--json")
    assert json.loads(stopped.stdout) == {"stopped": True}
