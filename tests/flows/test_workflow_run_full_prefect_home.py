"""`workflow run` on a home whose disk is full. With Prefect's temporary server there, it waited two
minutes, then said "RuntimeError: Timed out while attempting to connect to ephemeral Prefect API
server.": a new database that cannot fit is refused at once, naming the folder and the free space.
With Prefect elsewhere, the run crashed with "OSError: [Errno 28] No space left on device": it says
the disk is full, where, and the way out, in the words of the error that stopped it."""

from __future__ import annotations

from tests.fixtures.cli import run_cli_process


def test_a_full_disk_under_a_new_prefect_database_is_named_at_once(small_disk):
    home = small_disk.path / "home"
    env = {"LH_HOME": str(home), "LH_PREFECT_AUTOSTART": "false", "PREFECT_HOME": str(home / "prefect")}
    assert run_cli_process("tables", env=env).returncode == 0
    small_disk.fill(0)
    done = run_cli_process("workflow", "run", "hello-lakehouse", env={**env, "PREFECT_API_URL": ""})
    said = " ".join(done.stderr.split())
    assert done.returncode == 2, done.stderr
    assert said.startswith(
        f"error: Prefect's temporary server cannot start: its database is under {home}/prefect, where the disk has "
    ), said
    assert said.endswith("KiB free: free space there, or run on a Prefect server elsewhere (PREFECT_API_URL)")
    small_disk.empty()


def test_a_run_that_fills_the_disk_says_so(small_disk, prefect_server):
    home = small_disk.path / "home"
    env = {"LH_HOME": str(home), "LH_PREFECT_AUTOSTART": "false", "PREFECT_API_URL": prefect_server}
    assert run_cli_process("tables", env=env).returncode == 0
    small_disk.fill(0)
    done = run_cli_process("workflow", "run", "hello-lakehouse", env=env)
    assert done.returncode == 2, done.stderr
    said = " ".join(done.stderr.split())
    assert "error: workflow 'hello-lakehouse' crashed: no space left on device while writing object '_runs/" in said
    assert said.endswith("nothing was written; free space there, then try again"), said
    small_disk.empty()
