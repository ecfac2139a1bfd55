"""The suite's own temporary homes: a pytest process removes what it made when it ends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# pytest in-process, then what TMPDIR holds just before the interpreter exits (atexit runs after)
COLLECT = """
import json, os, sys, pytest
rc = pytest.main(sys.argv[1:])
print("HELD " + json.dumps(sorted(os.listdir(os.environ["TMPDIR"]))))
sys.exit(rc)
"""


def test_a_pytest_run_leaves_no_temporary_home_behind(tmp_path):
    # Collecting the schemathesis module makes both homes (the session's and the one its app is
    # built on at import) without running anything; TMPDIR points them into this test's folder.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    args = ["-q", "-p", "no:cacheprovider", "--collect-only", "tests/flows/http/test_http_schemathesis.py"]
    done = subprocess.run(
        [sys.executable, "-c", COLLECT, *args],
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(scratch)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test_every_operation_was_exercised" in done.stdout
    [held] = [json.loads(line[5:]) for line in done.stdout.splitlines() if line.startswith("HELD ")]
    assert sorted(name.rsplit("-", 1)[0] for name in held) == ["lakehouse-schemathesis", "lakehouse-test"]
    assert [p.name for p in scratch.iterdir()] == []
