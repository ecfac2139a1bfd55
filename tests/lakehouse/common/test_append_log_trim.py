"""`AppendLog.trim`: old records dropped, corrupt and unfinished lines kept byte for byte, and no
record of a writer in another process lost while trims swap the file under it."""

from __future__ import annotations

import json
import multiprocessing
import os

import pytest

from lakehouse.common.errors import LogWriteError
from lakehouse.common.jsonl import AppendLog


def test_trim_drops_what_keep_refuses_and_keeps_other_lines_byte_for_byte(tmp_path):
    path = tmp_path / "ops.jsonl"
    log = AppendLog(path, trimmable=True)
    for n in range(6):
        log.append({"n": n, "old": n < 4})
    with open(path, "ab") as fh:
        fh.write(b"{not json\n")  # a corrupt line: nobody can date it
        fh.write(b'{"n": 9, "old": true')  # a last line cut off by a killed writer
    before = path.read_bytes()

    dry = log.trim(lambda r: not r["old"], dry_run=True)
    assert (dry.dropped, dry.kept) == (4, 4) and path.read_bytes() == before

    done = log.trim(lambda r: not r["old"])
    assert (done.dropped, done.kept, done.bytes_before) == (4, 4, len(before))
    lines = path.read_bytes().split(b"\n")
    assert [json.loads(x)["n"] for x in lines[:2]] == [4, 5]
    assert lines[2:] == [b"{not json", b'{"n": 9, "old": true']
    assert done.bytes_after == path.stat().st_size
    log.append({"n": 10, "old": False})  # after the cut-off line: a line of its own
    assert [r["n"] for r in AppendLog(path).records()] == [4, 5, 10]


def test_a_log_whose_appends_do_not_wait_cannot_be_trimmed(tmp_path):
    log = AppendLog(tmp_path / "playbooks.jsonl")
    log.append({"n": 1})
    with pytest.raises(LogWriteError, match=r"playbooks\.jsonl is not a trimmable log"):
        log.trim(lambda r: False)
    assert len(list(log.records())) == 1


def _append_many(path: str, writer: int, count: int) -> None:
    log = AppendLog(path, trimmable=True)
    for n in range(count):
        log.append({"writer": writer, "n": n, "old": False})


def test_appends_in_other_processes_lose_nothing_while_trims_swap_the_file(tmp_path):
    path = tmp_path / "ops.jsonl"
    log = AppendLog(path, trimmable=True)
    for n in range(200):
        log.append({"writer": -1, "n": n, "old": True})
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_append_many, args=(str(path), w, 1500)) for w in range(2)]
    for w in writers:
        w.start()
    trims = dropped = 0
    while any(w.is_alive() for w in writers) or trims < 3:
        dropped += log.trim(lambda r: not r["old"]).dropped
        trims += 1
        log.append({"writer": -1, "n": 1000 + trims, "old": True})  # something old for the next trim
    for w in writers:
        w.join()
        assert w.exitcode == 0
    kept = [r for r in AppendLog(path).records() if r["writer"] >= 0]
    assert sorted((r["writer"], r["n"]) for r in kept) == [(w, n) for w in range(2) for n in range(1500)]
    assert dropped >= 200 and trims >= 3
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".ops.jsonl.trim")]


def test_a_trim_removes_what_a_killed_trim_left(tmp_path):
    path = tmp_path / "ops.jsonl"
    log = AppendLog(path, trimmable=True)
    log.append({"n": 1, "old": True})
    (tmp_path / ".ops.jsonl.trim-4242").write_bytes(b'{"n": 0}\n' * 1000)  # SIGKILLed mid-trim
    assert log.trim(lambda r: not r["old"]).dropped == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ops.jsonl"]
