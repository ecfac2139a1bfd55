"""The Prefect server `lakehouse` starts forgets old flow runs with our history, and its log, which
every start appends to, does not grow without end."""

from __future__ import annotations

from datetime import timedelta

from prefect.settings.models.server.services import ServerServicesDBVacuumSettings

from flows.cli import server
from lakehouse.config import reset_settings


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
