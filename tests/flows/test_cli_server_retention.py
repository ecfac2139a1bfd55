"""The Prefect server `lakehouse` starts forgets old flow runs with our history, and its log, which
every start appends to, does not grow without end."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from datetime import timedelta

import pytest
from prefect.settings.models.server.services import ServerServicesDBVacuumSettings

from flows.cli import server
from lakehouse.config import reset_settings
from tests.fixtures.cli import LAKEHOUSE, own_home_env
from tests.fixtures.http import free_port


def test_the_server_vacuums_flow_runs_after_history_kept_days(lh_home, monkeypatch):
    monkeypatch.setenv("LH_HISTORY_KEPT_DAYS", "30")
    reset_settings()
    env = server._retention()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    vacuum = ServerServicesDBVacuumSettings()  # Prefect's own reading of the variables
    assert {"events", "flow_runs"} <= vacuum.enabled_vacuum_types
    assert vacuum.retention_period == timedelta(days=30)


def test_a_long_server_log_is_rotated_at_the_next_start(tmp_path):
    log = tmp_path / server.LOG_NAME
    log.write_bytes(b"x" * (server.LOG_ROTATE_BYTES + 1))
    (tmp_path / f"{server.LOG_NAME}.1").write_text("the start before")
    server._rotate(log)
    assert not log.exists()
    assert (tmp_path / f"{server.LOG_NAME}.1").stat().st_size == server.LOG_ROTATE_BYTES + 1
    log.write_text("short")
    server._rotate(log)
    assert log.read_text() == "short"


@pytest.mark.prefect
def test_the_running_server_deletes_a_flow_run_that_ended_before_history_kept_days(tmp_path):
    """Prefect's vacuum, as the server `lakehouse server start` runs it, on its own database. A run
    cannot be made to end in the past through the API, so one run's end is moved back 3 days in
    the database; the vacuum passes every 2 s here (default: hourly)."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.states import Completed, Running

    home = tmp_path / "home"
    env = own_home_env(home, LH_HISTORY_KEPT_DAYS="1")
    env["PREFECT_SERVER_SERVICES_DB_VACUUM_LOOP_SECONDS"] = "2"
    started = subprocess.run(
        [LAKEHOUSE, "server", "start", "--port", str(free_port())], env=env, capture_output=True, text=True
    )
    assert started.returncode == 0, started.stderr
    try:
        api_url = started.stdout.split("(API ")[1].split(";")[0]
        with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
            probe = flow(name="vacuum-probe")(lambda: None)
            runs = {name: client.create_flow_run(probe, name=name) for name in ("old", "recent")}
            for run in runs.values():
                client.set_flow_run_state(run.id, Running(), force=True)
                client.set_flow_run_state(run.id, Completed(), force=True)
            with sqlite3.connect(home / "prefect" / "prefect.db") as db:
                db.execute("UPDATE flow_run SET end_time = datetime('now', '-3 days') WHERE name = 'old'")
            left = {"old"}
            for _ in range(60):  # bounded poll, not timed
                left = {run.name for run in client.read_flow_runs()}
                if "old" not in left:
                    break
                time.sleep(1)
        assert left == {"recent"}, (home / server.LOG_NAME).read_text()[-3000:]
    finally:
        subprocess.run([LAKEHOUSE, "server", "stop"], env=env, capture_output=True, text=True)
