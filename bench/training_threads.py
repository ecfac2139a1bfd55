"""How `lakehouse adapt` trains fastest: one thread, or every core with waiting OpenMP threads
spinning (OpenMP's default) or sleeping (ours), on a quiet machine and beside one busy core
(another process, as on a machine that also serves searches or runs a build).

    .venv/bin/python -m bench.training_threads [--pairs 2000] [--rows 1016]

Each cell trains the product's adapter (`lakehouse/learning/adapter_training.train`, 100 full-batch
epochs) on random unit vectors of the dev set's shape in a fresh process (OpenMP reads its settings
once), and prints its CPU and wall seconds; the baseline is the one-thread run of the same table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

# After `import lakehouse` (which sets its own wait), before torch loads OpenMP: the cell's wait.
SET_WAIT = """
import json, os
import lakehouse
os.environ.pop("OMP_WAIT_POLICY", None)
os.environ.update(json.loads(os.environ["BENCH_WAIT"]))
"""
TRAIN = (
    SET_WAIT
    + """
import time, numpy as np
from lakehouse.learning.adapter_training import train
rng = np.random.default_rng(0)
pairs, rows = {pairs}, {rows}
corpus = rng.standard_normal((rows, 384)).astype(np.float32)
queries = rng.standard_normal((pairs, 384)).astype(np.float32)
answers = [str(i) for i in rng.integers(0, rows, pairs)]
train(queries[:8], answers[:8], [str(i) for i in range(rows)], corpus, epochs=2)  # torch loaded, warm
cpu, wall = time.process_time(), time.perf_counter()
train(queries, answers, [str(i) for i in range(rows)], corpus)
print(json.dumps({{"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall}}))
"""
)


EMBED = (
    SET_WAIT
    + """
import time
from lakehouse.search.embed import get_embedder
texts = [f"{{i}} forklift operator for the night shift in warehouse {{i % 97}}" for i in range({pairs})]
embedder = get_embedder("minilm")
embedder.embed(texts[:64])  # the model loaded
embedder.cache_size = 0
cpu, wall = time.process_time(), time.perf_counter()
embedder.embed(texts[64:])
print(json.dumps({{"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall}}))
"""
)


# How a waiting OpenMP thread waits: OpenMP's own default (GNU: spin a while, then sleep), sleep at
# once (PASSIVE), or spin a little (GOMP_SPINCOUNT, GNU OpenMP's, which torch's wheels use).
WAITS = {
    "openmp default": {},
    "passive": {"OMP_WAIT_POLICY": "PASSIVE"},
    "spin 10k": {"GOMP_SPINCOUNT": "10000"},
}


def cell(threads: str | None, wait: str, busy: bool, pairs: int, rows: int, script: str = TRAIN) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env["BENCH_WAIT"] = json.dumps(WAITS[wait])
    if threads is not None:
        env["OMP_NUM_THREADS"] = threads
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        time.sleep(0.5 if busy else 0)
        out = subprocess.run(
            [sys.executable, "-c", script.format(pairs=pairs, rows=rows)], env=env, capture_output=True, text=True
        )
    finally:
        if burner is not None:
            burner.kill()
            burner.wait()
    if out.returncode != 0:
        sys.exit(out.stderr)
    return json.loads(out.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=1016)
    args, _ = parser.parse_known_args()
    print(f"{os.cpu_count()} cores; {args.pairs} pairs, {args.rows} rows\n")
    print("| threads | machine | CPU s | wall s | wall vs one thread |")
    print("|---|---|---:|---:|---:|")
    for busy in (False, True):
        base = None
        for threads, wait in (("1", "openmp default"), *((None, w) for w in WAITS)):
            got = cell(threads, wait, busy, args.pairs, args.rows)
            base = base or got["wall_s"]
            label = ("1" if threads else f"every core ({os.cpu_count()})") + f", {wait}"
            machine = "one core busy" if busy else "quiet"
            print(f"| {label} | {machine} | {got['cpu_s']:.1f} | {got['wall_s']:.1f} | {got['wall_s'] / base:.2f}x |")
    print(f"\nEmbedding {args.pairs} short texts with MiniLM (every core), the same two waits:\n")
    print("| wait | machine | CPU s | wall s |")
    print("|---|---|---:|---:|")
    for busy in (False, True):
        for wait in WAITS:
            got = cell(None, wait, busy, args.pairs, args.rows, EMBED)
            machine = "one core busy" if busy else "quiet"
            print(f"| {wait} | {machine} | {got['cpu_s']:.1f} | {got['wall_s']:.1f} |")


if __name__ == "__main__":
    main()
