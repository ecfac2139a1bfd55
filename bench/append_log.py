"""Appending to a JSON-lines log (the op log, playbooks, evidence): `AppendLog.append` against a
bare O_APPEND write of the same line, in one run.

    .venv/bin/python -m bench.append_log [--records 20000] [--repeat 5]

Since stop 37 an append checks the file's last byte first (`fstat` + a 1-byte `pread`), so that a
torn fragment is closed off instead of cut at open. Against the append as it was before the check
(encode, lock, `open`, `write`, `close`) and a bare write of a line encoded once. Medians of
--repeat runs, the methods taking turns.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args, _ = parser.parse_known_args()
    methods = {"a bare O_APPEND write": bare, "AppendLog.append before the check": before, "AppendLog.append": logged}
    times: dict[str, list[float]] = {label: [] for label in methods}
    with tempfile.TemporaryDirectory() as work:
        for run in range(args.repeat):
            for label, fn in methods.items():
                path = Path(work) / f"{run}-{fn.__name__}.jsonl"
                start = time.perf_counter()
                fn(path, args.records)
                times[label].append(time.perf_counter() - start)
    print(f"{args.records:,} appends of a {len(json.dumps(RECORD))}-byte record, median of {args.repeat}\n")
    print("| method | total | per append |")
    print("|---|---:|---:|")
    for label, runs in times.items():
        median = statistics.median(runs)
        print(f"| {label} | {median * 1000:.0f} ms | {median / args.records * 1e6:.1f} us |")


if __name__ == "__main__":
    main()
