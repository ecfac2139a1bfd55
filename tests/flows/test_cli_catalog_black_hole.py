"""A catalog server that takes connections and never answers (PostgreSQL frozen, a network black
hole): a command failed after psycopg's default 130 s, then its exit flush waited as long again
for each of the four shared logs. Now the wait is `catalog_connect_timeout_s`, once."""

from __future__ import annotations

import socket

from tests.fixtures.cli import run_cli_process


def test_a_silent_catalog_fails_a_command_after_the_connect_timeout_once(tmp_path):
    silent = socket.create_server(("127.0.0.1", 0))  # the kernel completes the handshake; nobody answers
    port = silent.getsockname()[1]
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "ops.jsonl").write_text('{"op_id": "o1", "ts_start": "2026-01-01T00:00:00+00:00"}\n')
    env = {
        "LH_HOME": str(tmp_path / "home"),
        "LH_CATALOG_URL": f"postgresql+psycopg://u:secret@127.0.0.1:{port}/catalog",
        "LH_CATALOG_CONNECT_TIMEOUT_S": "2",
    }
    try:
        # 60 s: a bound well under the 130 s of each wait before, not a measurement
        done = run_cli_process("tables", env=env, timeout=60)
    finally:
        silent.close()
    assert done.returncode == 2, done
    first, *rest = done.stderr.splitlines()
    assert first.startswith("error: the catalog database postgresql+psycopg://u:***@127.0.0.1:")
    assert "secret" not in done.stderr
    assert "cannot be reached" in first and "timeout expired" in first
    assert len(rest) == 1 and rest[0].startswith("shared-state flush failed (CatalogUnavailable: "), rest
