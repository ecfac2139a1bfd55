"""A home mounted read-only (a backup opened to look at): `sql` failed with "OSError: [Errno 30]
Read-only file system" (it made a spill folder first), and every read printed "error <id>: could
not write op ..." although it had done its work. Reads answer; the ops log that cannot be written
is said once (each op is counted); a write the machine refuses is named in words, exit 2."""

from __future__ import annotations

import errno
import logging
from datetime import UTC, datetime

from flows.cli.common import report_error
from lakehouse.observe.observer import ObservedOp, Observer
from tests.fixtures.cli import run_cli_process


def test_reads_answer_from_a_read_only_home(small_disk, tmp_path):
    home = small_disk.path / "home"
    data = tmp_path / "t.csv"
    data.write_text("code,title\n1,welder\n2,nurse\n")
    env = {"LH_HOME": str(home)}
    assert run_cli_process("ingest", str(data), "--table", "t", env=env).returncode == 0
    small_disk.read_only()
    done = run_cli_process("sql", "select count(*) as n from t", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert '"rows": [[2]]' in done.stdout
    [said] = done.stderr.strip().splitlines()
    assert said.startswith("error ") and f"to {home}/ops.jsonl: " in said
    assert said.endswith("; ops are not recorded while it cannot be written (the work itself goes on)")


def test_an_unwritable_ops_log_is_said_once_and_every_op_counted(small_disk, caplog):
    observer = Observer(small_disk.path / "ops.jsonl")
    small_disk.read_only()
    with caplog.at_level(logging.ERROR, logger="lakehouse.observe.observer"):
        for n in range(3):
            now = datetime.now(UTC)
            observer.record(ObservedOp(ts_start=now, ts_end=now, duration_ms=n, source="mode", status="completed"))
    assert observer.write_failures == 3
    assert (
        len(caplog.records) == 1 and "ops are not recorded while it cannot be written" in caplog.records[0].getMessage()
    )


def test_the_machine_refusing_a_write_is_said_in_words(capsys):
    full = OSError(errno.ENOSPC, "No space left on device", "/data/home/objects/x.bin")
    assert report_error(full) == 2
    assert " ".join(capsys.readouterr().err.split()) == (
        "error: no space left on device writing /data/home/objects/x.bin: free space there, then try again"
    )
    assert report_error(MemoryError()) == 2
    assert "error: out of memory: the command needs more memory than this process may use" in capsys.readouterr().err
