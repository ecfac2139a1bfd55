"""A line appended to a log on a disk that fills mid-line (a short write: the part that fits in the
file's last block) stayed in the log as a fragment: once space was freed, the next append closed it
off as a line of its own and every later read reported that corrupt line, forever. The part written
is taken back, and the error says why: no space left on device."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehouse.common.errors import LogWriteError
from lakehouse.common.jsonl import AppendLog


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 1 MiB tmpfs of its own (mounting needs root, as CI runs; skipped elsewhere)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def _fill(disk: Path) -> Path:
    """Take every free block (the log's last block keeps its unused tail: a line longer than that is cut)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:  # no space left
        pass
    finally:
        os.close(fd)
    return filler


def test_a_line_cut_by_a_full_disk_is_taken_back(small_disk):
    log = AppendLog(small_disk / "ops.jsonl")
    log.append({"n": 1})
    before = log.path.read_bytes()
    filler = _fill(small_disk)
    with pytest.raises(
        LogWriteError,
        match=r"could not append to .*ops\.jsonl: No space left on device after \d+ of "
        r"\d+ bytes; the part written was taken back",
    ):
        log.append({"n": 2, "text": "x" * 10_000})
    assert log.path.read_bytes() == before
    filler.unlink()
    log.append({"n": 3})
    assert [r["n"] for r in AppendLog(log.path).records()] == [1, 3]
    assert AppendLog(log.path).report.corrupt == []
