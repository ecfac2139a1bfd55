"""The suite's own settings: a pytest process removes the temporary homes it made when it ends, and
property tests assert no wall-clock time."""

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


def test_property_tests_have_no_deadline():
    """Hypothesis fails an example slower than 200 ms by default: a wall-clock assertion, which failed
    `test_client_address_is_the_rightmost_untrusted_hop` (300 ms once, 4 ms when rerun) on a loaded machine."""
    import hypothesis

    assert hypothesis.settings().deadline is None
    assert hypothesis.HealthCheck.too_slow in hypothesis.settings().suppress_health_check
