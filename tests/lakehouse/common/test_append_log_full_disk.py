"""A line appended to a log on a disk that fills mid-line (a short write: the part that fits in the
file's last block) stayed in the log as a fragment: once space was freed, the next append closed it
off as a line of its own and every later read reported that corrupt line, forever. The part written
is taken back, and the error says why: no space left on device."""

from __future__ import annotations

import pytest

from lakehouse.common.errors import LogWriteError
from lakehouse.common.jsonl import AppendLog


def test_a_line_cut_by_a_full_disk_is_taken_back(small_disk):
    log = AppendLog(small_disk.path / "ops.jsonl")
    log.append({"n": 1})
    before = log.path.read_bytes()
    small_disk.fill(0)
    with pytest.raises(
        LogWriteError,
        match=r"could not append to .*ops\.jsonl: No space left on device after \d+ of "
        r"\d+ bytes; the part written was taken back",
    ):
        log.append({"n": 2, "text": "x" * 10_000})
    assert log.path.read_bytes() == before
    small_disk.empty()
    log.append({"n": 3})
    assert [r["n"] for r in AppendLog(log.path).records()] == [1, 3]
    assert AppendLog(log.path).report.corrupt == []
