"""`lakehouse workflow run staffing-data` from outside the checkout read the shipped workflow's data
(`examples/data/...`) against the working directory: its ingests failed (`no such file`). A
shipped workflow's project files are given by absolute path, as `lakehouse main` gives them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.prefect
def test_the_shipped_data_workflow_runs_from_another_directory(tmp_path, prefect_server):
    # The session's Prefect server: a temporary server per CLI process costs 10-20 s and is tested elsewhere.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LH_", "PREFECT_API_URL"))}
    env.update(LH_HOME=str(tmp_path / "home"), LH_PREFECT_AUTOSTART="false", PREFECT_API_URL=prefect_server)
    cli = str(Path(sys.executable).with_name("lakehouse"))
    done = subprocess.run(
        [cli, "workflow", "run", "staffing-data", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "completed", result
    assert {node["status"] for node in result["nodes"].values()} == {"completed"}
