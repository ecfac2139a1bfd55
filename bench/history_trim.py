"""The history's retention (`lakehouse gc`, stop 48) on a home with a year of history, 90 days kept:
how long the trim takes, and what a cold read of the op log (`lakehouse ops stats` in a new
process: the whole log) costs before and after it, in the same run.

    .venv/bin/python -m bench.history_trim [--ops 200000] [--runs 2000]

The op log holds --ops ops shaped as the product records them (bench.ops_log's, about 1 KB each),
ended evenly over the last 365 days; the object store --runs run records of 3 nodes, each with its
own output, written evenly over the same year (files back-dated).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.ops_log import _op
from flows.outputs import NodeRecord, RunManifest, RunStore
from flows.retention import trim_history
from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.observe.observer import Observer

YEAR_S = 365 * 86400


def _write_ops(path: Path, count: int, now: datetime) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(count):
            op = _op(i)
            op["ts_start"] = op["ts_end"] = (now - timedelta(seconds=YEAR_S * (1 - i / count))).isoformat()
            fh.write(json.dumps(op, separators=(",", ":")) + "\n")


def _write_runs(lh: Lakehouse, count: int) -> None:
    runs, root = RunStore(lh.store), lh.store.root
    for i in range(count):
        run_id = f"run-{i:05d}"
        runs.write_manifest(RunManifest(run_id=run_id, workflow="w", source="w.yaml", text="nodes: {}"))
        keys = [f"_runs/{run_id}/manifest.json"]
        for node in "abc":
            sha = runs.put_output({"run": i, "node": node, "rows": list(range(20))})
            runs.write_node(run_id, NodeRecord(node_id=node, status="completed", output_sha256=sha))
            keys += [f"_runs/{run_id}/nodes/{node}.json", RunStore.output_key(sha)]
        when = time.time() - YEAR_S * (1 - i / count)
        for key in keys:
            os.utime(root / key, (when, when))


def _cold_stats(path: Path) -> float:
    began = time.perf_counter()
    Observer(path).stats()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=2_000)
    args, _ = parser.parse_known_args()
    with tempfile.TemporaryDirectory() as tmp:
        lh = Lakehouse(Settings(home=Path(tmp) / "home"))
        _write_ops(lh.observer.path, args.ops, datetime.now(UTC))
        _write_runs(lh, args.runs)
        size = lh.observer.path.stat().st_size
        files = sum(1 for p in (lh.store.root / "_runs").rglob("*") if p.is_file())
        before = _cold_stats(lh.observer.path)
        began = time.perf_counter()
        report = trim_history(lh, 90 * 86400, outputs_window_s=3600)
        took = time.perf_counter() - began
        after = _cold_stats(lh.observer.path)
        left = sum(1 for p in (lh.store.root / "_runs").rglob("*") if p.is_file())
        lh.close()
    print(f"op log {args.ops:,} ops, {size / 1e6:,.0f} MB; {args.runs:,} runs, {files:,} files under _runs/")
    print(f"trim (90 days kept): {took:.1f} s; {report.summary()}")
    print(f"op log after: {lh.observer.path.name} {(size - report.op_log_bytes) / 1e6:,.0f} MB; files left: {left:,}")
    print("| cold `ops stats` read (a new process reads the whole log) | s |")
    print("|---|---:|")
    print(f"| before the trim | {before:.2f} |")
    print(f"| after the trim | {after:.2f} |")


if __name__ == "__main__":
    main()
