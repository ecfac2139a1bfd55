"""The Prefect server our CLI starts (and deployments/README.md's) writes Prefect's errors to its
log. Importing `flows` quiets Prefect's console for the CLI (level CRITICAL); the server inherited
that, so its log never showed an error: the scheduler failed on every pass for weeks with an
empty `prefect-server.log`. A level the user set stays theirs."""

from __future__ import annotations

import subprocess
import sys

from tests.fixtures.cli import own_home_env

PROBE = """
import sys
sys.argv = ["prefect", "server", "start"]  # as the server process is started
import flows
from flows.prefect_server import prepare_server_process
prepare_server_process()
from prefect.logging import get_logger
from prefect.logging.configuration import setup_logging
setup_logging()  # as Prefect's CLI does at start-up
get_logger("prefect.server.services.scheduler").error("probe: the scheduler failed")
"""


def _server_process(tmp_path, **extra: str) -> subprocess.CompletedProcess:
    env = own_home_env(tmp_path / "home", **extra)
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)


def test_a_server_process_logs_prefect_errors(tmp_path):
    done = _server_process(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "probe: the scheduler failed" in done.stdout + done.stderr


def test_a_console_level_the_user_set_stays(tmp_path):
    done = _server_process(tmp_path, PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL="CRITICAL")
    assert done.returncode == 0, done.stderr
    assert "probe: the scheduler failed" not in done.stdout + done.stderr


def test_the_cli_stays_quiet(tmp_path):
    quiet = PROBE.replace('sys.argv = ["prefect", "server", "start"]', 'sys.argv = ["lakehouse", "tables"]')
    quiet = quiet.replace("prepare_server_process()\n", "")
    env = own_home_env(tmp_path / "home")
    done = subprocess.run([sys.executable, "-c", quiet], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "probe: the scheduler failed" not in done.stdout + done.stderr
