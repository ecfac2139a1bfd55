"""Appending to a JSON-lines log (the op log, playbooks, evidence): `AppendLog.append` against a
bare O_APPEND write of the same line, in one run.

    .venv/bin/python -m bench.append_log [--records 20000] [--repeat 5]

Since stop 37 an append checks the file's last byte first (`fstat` + a 1-byte `pread`), so that a
torn fragment is closed off instead of cut at open. Against the append as it was before the check
(encode, lock, `open`, `write`, `close`) and a bare write of a line encoded once. Medians of
--repeat runs, the methods taking turns.

Since stop 48 the op log is `trimmable` (its appends hold a shared `flock`, so a trim can swap the
file): that append is measured beside the plain one, and then one trim of a log of --trim-records
records of which half are dropped (what `lakehouse gc` does to the op log).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from lakehouse.common.jsonl import AppendLog

RECORD = {"op_id": "0" * 32, "mode": "search.query", "status": "completed", "duration_ms": 12.5, "pad": "x" * 200}


def _write(path: Path, line: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def bare(path: Path, count: int) -> None:
    line = (json.dumps(RECORD, separators=(",", ":")) + "\n").encode()
    for _ in range(count):
        _write(path, line)


def before(path: Path, count: int) -> None:
    """`AppendLog.append` as it was before the last-byte check: encode, lock, open, write, close."""
    log = AppendLog(path)
    for _ in range(count):
        line = (json.dumps(RECORD, default=str, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        with log._lock:
            _write(path, line)


def logged(path: Path, count: int) -> None:
    log = AppendLog(path)
    for _ in range(count):
        log.append(RECORD)


def trimmable(path: Path, count: int) -> None:
    log = AppendLog(path, trimmable=True)
    for _ in range(count):
        log.append(RECORD)


def trim_once(work: Path, count: int) -> tuple[float, int, int]:
    path = work / "trim.jsonl"
    with open(path, "wb") as fh:
        for n in range(count):
            fh.write((json.dumps(RECORD | {"n": n}, separators=(",", ":")) + "\n").encode())
    start = time.perf_counter()
    result = AppendLog(path, trimmable=True).trim(lambda r: r["n"] % 2 == 0)
    return time.perf_counter() - start, result.bytes_before, result.dropped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--trim-records", type=int, default=200_000)
    args, _ = parser.parse_known_args()
    methods = {
        "a bare O_APPEND write": bare,
        "AppendLog.append before the check": before,
        "AppendLog.append": logged,
        "AppendLog.append, trimmable (the op log: + a shared flock)": trimmable,
    }
    times: dict[str, list[float]] = {label: [] for label in methods}
    with tempfile.TemporaryDirectory() as work:
        for run in range(args.repeat):
            for label, fn in methods.items():
                path = Path(work) / f"{run}-{fn.__name__}.jsonl"
                start = time.perf_counter()
                fn(path, args.records)
                times[label].append(time.perf_counter() - start)
        took, size, dropped = trim_once(Path(work), args.trim_records)
    print(f"{args.records:,} appends of a {len(json.dumps(RECORD))}-byte record, median of {args.repeat}\n")
    print("| method | total | per append |")
    print("|---|---:|---:|")
    for label, runs in times.items():
        median = statistics.median(runs)
        print(f"| {label} | {median * 1000:.0f} ms | {median / args.records * 1e6:.1f} us |")
    print(f"\ntrim of a {size / 1e6:.0f} MB log of {args.trim_records:,} records, {dropped:,} dropped: {took:.2f} s")


if __name__ == "__main__":
    main()
