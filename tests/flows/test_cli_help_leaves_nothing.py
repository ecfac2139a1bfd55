"""Asking for help leaves no state directory behind: `lakehouse --help` made `./.lakehouse/prefect`
in whatever directory it was asked in (Prefect's home was made when `flows` was imported)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

LAKEHOUSE = str(Path(sys.executable).with_name("lakehouse"))


@pytest.mark.parametrize("args", [["--help"], ["corpus", "build", "--help"], []])
def test_help_in_a_new_directory_leaves_it_empty(tmp_path, args):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LH_", "PREFECT_"))}
    env["LH_CONFIG"] = os.devnull
    done = subprocess.run([LAKEHOUSE, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert "Usage:" in done.stdout + done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_command_in_a_new_directory_still_gets_prefects_home(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LH_", "PREFECT_"))}
    env["LH_CONFIG"] = os.devnull
    done = subprocess.run(
        [LAKEHOUSE, "ops", "list"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / ".lakehouse" / "prefect").is_dir()
