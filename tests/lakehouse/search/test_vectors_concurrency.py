"""Builds and adds into different corpora run at the same time: there is no global lock.

Proof without timing thresholds: each operation, once it holds its corpus lock, waits at a
barrier for all four. With one global lock only one thread could ever hold a lock, the barrier
would break and the operations would fail; with per-corpus locks all four meet inside their
locked sections, and their recorded start/end intervals overlap.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa

from tests.fixtures.vectors import jobs_table

NAMES = ["north", "south", "east", "west"]


def _meet_inside_locks(lakehouse, op_name: str):
    barrier = threading.Barrier(len(NAMES), timeout=120)

    def listener(corpus: str, op: str, phase: str) -> None:
        if op == op_name and phase == "locked":
            barrier.wait()  # raises BrokenBarrierError if the four cannot all be inside at once

    lakehouse.corpora.add_listener(listener)
    return listener


def _overlap(lakehouse, op: str) -> tuple[int, int]:
    intervals = [a for a in lakehouse.corpora.activity if a.op == op]
    assert sorted(a.corpus for a in intervals) == sorted(NAMES)
    assert len({a.thread for a in intervals}) == len(NAMES)
    latest_start = max(a.started_ns for a in intervals)
    earliest_end = min(a.ended_ns for a in intervals)
    return latest_start, earliest_end


def test_builds_and_adds_into_four_corpora_overlap(lakehouse, minilm):
    lakehouse.tables.write_arrow("jobs", jobs_table(), mode="overwrite")
    _meet_inside_locks(lakehouse, "build")
    _meet_inside_locks(lakehouse, "add")

    def build(name):
        return lakehouse.corpora.build(name, "jobs", ["title", "description"], "job_id", ["state"])

    with ThreadPoolExecutor(len(NAMES)) as pool:
        results = list(pool.map(build, NAMES))
    assert [r.count for r in results] == [16] * 4
    latest_start, earliest_end = _overlap(lakehouse, "build")
    assert latest_start < earliest_end  # every build was inside its lock while the others were

    lakehouse.tables.write_arrow(
        "jobs",
        pa.table(
            {
                "job_id": ["J-950"],
                "title": ["Locksmith"],
                "description": ["Install and repair locks and safes."],
                "city": ["Elgin"],
                "state": ["IL"],
                "shift": ["day"],
            }
        ),
        mode="append",
    )
    with ThreadPoolExecutor(len(NAMES)) as pool:
        added = list(pool.map(lakehouse.corpora.add, NAMES))
    assert [a.added for a in added] == [1] * 4
    latest_start, earliest_end = _overlap(lakehouse, "add")
    assert latest_start < earliest_end


def test_the_same_corpus_is_serialised(lakehouse, minilm):
    lakehouse.tables.write_arrow("jobs", jobs_table(), mode="overwrite")
    lakehouse.corpora.build("solo", "jobs", ["title"], "job_id")
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda _: lakehouse.corpora.rebuild("solo"), range(3)))
    runs = sorted((a.started_ns, a.ended_ns) for a in lakehouse.corpora.activity if a.op == "rebuild")
    assert len(runs) == 3
    assert all(prev_end <= start for (_, prev_end), (start, _) in zip(runs, runs[1:], strict=False))  # one at a time
    assert lakehouse.corpora.show("solo")["version"] == 4
