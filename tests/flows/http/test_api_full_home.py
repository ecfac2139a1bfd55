"""`lakehouse api` on a home whose disk is full announced itself ("Lakehouse API on ..."), then died
with "error: OSError: [Errno 28] No space left on device": the state file the CLI finds it by could
not be written. It is refused before the announcement, naming the file and the way out."""

from __future__ import annotations

from tests.fixtures.cli import run_cli_process
from tests.fixtures.http import free_port, spawn_api


def test_an_api_whose_state_cannot_be_written_is_refused_before_it_announces(small_disk):
    home = small_disk.path / "home"
    assert (
        run_cli_process("tables", env={"LH_HOME": str(home)}).returncode == 0
    )  # the home as a first command leaves it
    small_disk.fill(0)
    api = spawn_api(home, free_port(), merged=False)
    out, err = api.communicate(timeout=120)
    assert api.returncode == 2, err
    assert " ".join(err.split()) == (
        f"error: cannot write {home}/api.json (No space left on device): the CLI finds the running API through it; "
        f"free space under {home} (or make it writable) and start again"
    )
    assert "Lakehouse API on" not in out
    assert sorted(p.name for p in home.iterdir() if "api" in p.name) == []  # no state, no temporary file
    small_disk.empty()
