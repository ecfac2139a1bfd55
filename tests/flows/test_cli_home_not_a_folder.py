"""LH_HOME naming a file (or a place no folder can be made) was a traceback for every command but
`--help`: Prefect's home under it was made at import of `flows`. Each command now refuses it by
name, exit 1, and makes nothing."""

from __future__ import annotations

import pytest

from tests.fixtures.cli import run_cli_process


@pytest.mark.parametrize("command", [["tables"], ["ops", "stats"], ["workflow", "run", "hello-lakehouse"]])
def test_a_home_that_is_a_file_is_named(tmp_path, command):
    home = tmp_path / "afile"
    home.write_text("not a folder\n")
    done = run_cli_process(*command, env={"LH_HOME": str(home / "sub"), "LH_PREFECT_AUTOSTART": "false"})
    assert "Traceback" not in done.stderr
    assert done.returncode == 1, done.stderr
    assert f"cannot make the folder '{home / 'sub'}': '{home}' is a file" in done.stderr
    assert home.read_text() == "not a folder\n"


def test_a_home_where_no_folder_can_be_made_is_named(tmp_path):
    done = run_cli_process("tables", env={"LH_HOME": "/proc/no-such-home", "LH_PREFECT_AUTOSTART": "false"})
    assert "Traceback" not in done.stderr
    assert done.returncode == 1, done.stderr
    refusal = "setting home (LH_HOME): cannot make the folder '/proc/no-such-home': No such file or directory"
    assert refusal in done.stderr
