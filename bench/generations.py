"""Corpus generation switch time: promote / rollback + the first search on the new generation,
against a cold load of the same corpus, in one run.

    .venv/bin/python -m bench.generations [--rows 20000] [--repeat 7]

Data: the 1,016 real O*NET occupations (examples/data/occupations.tsv), repeated with a numbered
variant of each title up to `--rows` rows, embedded once with wordllama into a corpus in a temp
LH_HOME (local object store). Generations: 1 = the build, 2 = 1 plus a staged query adapter (a
random rotation; same index file and rows), 3 = 1 minus one deleted row (another index file).
Timed (median of `--repeat`; the query vector is given, so no embedding time):

- cold: drop the copy in memory (`corpora.forget`), then one search: index file + rows loaded;
- promote 1 -> 2 / rollback 2 -> 1 + first search: the same index in memory, a new adapter;
- promote 1 -> 3 / rollback 3 -> 1 + first search: another index file, its copy still in memory
  (a handle keeps its last few generations' copies), and once more after `forget` (a full load);
- warm: one search on the live generation (the floor).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from lakehouse.config import Settings
from lakehouse.core import Lakehouse

ONET = Path(__file__).resolve().parents[1] / "examples" / "data" / "occupations.tsv"
QUERY = "registered nurse in an intensive care unit"


def source(rows: int) -> pa.Table:
    onet = pacsv.read_csv(ONET, parse_options=pacsv.ParseOptions(delimiter="\t"))
    titles, texts = onet.column("Title").to_pylist(), onet.column("Description").to_pylist()
    n = len(titles)
    return pa.table(
        {
            "id": [f"r{i:07d}" for i in range(rows)],
            "title": [titles[i % n] if i < n else f"{titles[i % n]} ({i // n})" for i in range(rows)],
            "text": [texts[i % n] for i in range(rows)],
        }
    )


def median_ms(repeat: int, setup: Callable[[], None], timed: Callable[[], None]) -> float:
    runs = []
    for _ in range(repeat):
        setup()
        start = time.perf_counter()
        timed()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="lh-bench-gen-") as home:
        lh = Lakehouse(Settings(home=Path(home), embed_model="wordllama"))
        corpora = lh.corpora
        lh.tables.write_arrow("src", source(args.rows), mode="overwrite")
        start = time.perf_counter()
        corpora.build("bench", "src", ["title", "text"], "id")
        build_s = time.perf_counter() - start
        manifest = corpora.manifest("bench")
        vectors = {manifest.model: corpora.embedder(manifest.model).embed([QUERY])}

        def search() -> None:
            lh.matrix.search(QUERY, ["bench"], use_playbooks=False, query_vectors=vectors)

        rotation, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((manifest.dims, manifest.dims)))
        adapted = corpora.stage("bench", adapter=rotation, adapter_meta={"kind": "rotation"})
        corpora.delete("bench", ["r0000000"])
        other = corpora.manifest("bench").generation
        corpora.promote("bench", 1)
        search()

        def go(generation: int, back: bool = False) -> Callable[[], None]:
            def run() -> None:
                if back:
                    corpora.rollback("bench", generation)
                else:
                    corpora.promote("bench", generation)
                search()

            return run

        def at(generation: int) -> Callable[[], None]:
            def setup() -> None:
                corpora.promote("bench", generation)
                search()  # loaded and live before the timed switch

            return setup

        def cold_setup() -> None:
            corpora.promote("bench", 1)
            corpora.forget()

        in_memory = "another index file, its copy in memory"
        cases: list[tuple[str, Callable[[], None], Callable[[], None]]] = [
            ("cold: load generation 1 + first search", cold_setup, search),
            ("promote 1 -> 2 (adapter, same index) + first search", at(1), go(adapted)),
            ("rollback 2 -> 1 (same index) + first search", at(adapted), go(1, back=True)),
            (f"promote 1 -> 3 ({in_memory}) + first search", at(1), go(other)),
            (f"rollback 3 -> 1 ({in_memory}) + first search", at(other), go(1, back=True)),
            ("promote 1 -> 3, nothing in memory + first search", cold_setup, go(other)),
            ("warm: one search on the live generation", lambda: None, search),
        ]
        rows = [(label, median_ms(args.repeat, setup, timed)) for label, setup, timed in cases]
        count, dims = manifest.count, manifest.dims
        lh.close()

    cold = rows[0][1]
    print(f"corpus: {count:,} rows x {dims} dims (wordllama), built in {build_s:.1f} s; median of {args.repeat}")
    print()
    print("| switch | ms | vs cold load |")
    print("|---|---:|---:|")
    for label, ms in rows:
        print(f"| {label} | {ms:.2f} | {ms / cold:.3f}x |")


if __name__ == "__main__":
    main()
