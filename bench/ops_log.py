"""Reading a long op log (`LH_HOME/ops.jsonl`) as the console's System page does on every poll: the
stats of every op and the newest 50. The way before (stop 44), read in the same run: each call
parsed the whole log (`Observer.stats(rows=observer.ops())`, `observer.ops()[-50:]`). Now the stats
fold only what was appended since the last call (`AppendLog.read_since`) and the newest ops are read
from the end of the file (`AppendLog.tail`).

    .venv/bin/python -m bench.ops_log [--ops 200000] [--repeat 3]

The log is written once with ops shaped as the product records them (summaries of a search's input
and output, about 1 KB a line); each poll appends 10 ops first, as a busy server would between polls.
Medians of --repeat polls.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from lakehouse.observe.observer import ObservedOp, Observer, now_utc

MODES = ["search.query", "matrix.search", "llm.chat", "table.sql", "fixture.echo"]
TAIL = 50  # what the System page shows (flows/http/ui/system.py)


def _op(i: int) -> dict:
    started = now_utc()
    return ObservedOp.build(
        ts_start=started,
        ts_end=started + timedelta(milliseconds=i % 997),
        input={"query": f"registered nurse {i}", "corpora": ["occupations"], "top_n": 10},
        output={"hits": [{"id": f"29-1141.{k:02d}", "score": 0.5, "text": "Registered Nurses " * 8} for k in range(5)]},
        source="http",
        status="failed" if i % 50 == 0 else "completed",
        mode=MODES[i % len(MODES)],
    ).model_dump(mode="json")


def _write(path: Path, count: int) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(count):
            fh.write(json.dumps(_op(i), separators=(",", ":")) + "\n")


def _poll(observer: Observer, read: Callable[[], object], repeat: int, serial: list[int]) -> float:
    times = []
    for _ in range(repeat):
        for _ in range(10):
            serial[0] += 1
            observer.log.append(_op(serial[0]))
        began = time.perf_counter()
        read()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args, _ = parser.parse_known_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ops.jsonl"
        began = time.perf_counter()
        _write(path, args.ops)
        size = path.stat().st_size
        print(f"log: {args.ops:,} ops, {size / 1e6:,.0f} MB, written in {time.perf_counter() - began:.1f} s")
        observer = Observer(path)
        serial = [args.ops]
        first = time.perf_counter()
        stats = observer.stats()
        first = time.perf_counter() - first
        assert stats == Observer(path).stats(rows=observer.ops()), "the folded stats differ from a whole read"
        assert observer.ops(limit=TAIL) == observer.ops()[-TAIL:], "the tail differs from a whole read"
        reads = [
            ("stats, before: the whole log parsed", lambda: observer.stats(rows=observer.ops())),
            ("stats, now: what was appended since the last poll", observer.stats),
            (f"newest {TAIL}, before: the whole log parsed", lambda: observer.ops()[-TAIL:]),
            (f"newest {TAIL}, now: read from the end", lambda: observer.ops(limit=TAIL)),
        ]
        rows = [(name, _poll(observer, read, args.repeat, serial)) for name, read in reads]
        print(f"stats, now, first call (the whole log, once): {first * 1000:,.0f} ms")
        print("| read (each poll after 10 more ops) | median ms |")
        print("|---|---:|")
        for name, seconds in rows:
            print(f"| {name} | {seconds * 1000:,.1f} |")


if __name__ == "__main__":
    main()
