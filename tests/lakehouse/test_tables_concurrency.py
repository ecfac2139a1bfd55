"""Workflow nodes run in threads: first writes on a fresh LH_HOME must not race on the catalog."""

from __future__ import annotations

import threading

import pyarrow as pa

from lakehouse.core import Lakehouse


def test_parallel_first_writes_on_a_fresh_home_all_land(settings):
    lakehouse = Lakehouse(settings)
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def write(i: int) -> None:
        barrier.wait()
        try:
            lakehouse.tables.write_arrow(f"race_{i}", pa.table({"n": [i, i + 1]}))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(lakehouse.tables.list()) == [f"lakehouse.race_{i}" for i in range(4)]
    assert all(lakehouse.tables.read_arrow(f"race_{i}").num_rows == 2 for i in range(4))
    lakehouse.close()
