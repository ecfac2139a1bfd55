"""Embedding throughput (rows/s) in this process vs on a Dask LocalCluster of 1 and 2 workers.

    .venv/bin/python -m bench.dask_build [--rows 20000] [--models wordllama,minilm] [--workers 1,2]

Texts: the `profile` column of the synthetic workers table (`lakehouse/data/synthetic_workers.py`), all
distinct, so the embedder's text cache never answers. Timed: `embed_on_dask` as a corpus build with
`dask_address` set calls it (partitioning, shipping texts, merging float32 arrays in row order). The
cluster start and each worker's model load are paid before the clock starts (one warm-up partition per
worker) and reported separately. Workers have one thread each; MiniLM's torch threads per worker are
left at their default, so on a 2-core machine 2 workers compete for the same cores.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from lakehouse.config import Settings
from lakehouse.data.synthetic_workers import generate
from lakehouse.search.embed import get_embedder
from lakehouse.search.vectors.dask_build import dask_client, embed_on_dask


def profiles(rows: int) -> list[str]:
    texts: list[str] = []
    for batch in generate(rows):
        texts.extend(batch.column("profile").to_pylist())
    return texts[:rows]


def measure(texts: list[str], model: str, workers: int, settings: Settings) -> dict:
    started = time.perf_counter()
    with dask_client(f"local:{workers}") as client:
        # load the model once on every worker before timing
        embed_on_dask(client, [f"warm-up {i}" for i in range(workers * 4)], model, settings)
        ready = time.perf_counter() - started
        t0 = time.perf_counter()
        vectors = embed_on_dask(client, texts, model, settings)
        seconds = time.perf_counter() - t0
    return {
        "model": model,
        "workers": workers,
        "rows": len(texts),
        "seconds": round(seconds, 2),
        "rows_per_s": round(len(texts) / seconds, 1),
        "startup_s": round(ready, 2),
        "dims": vectors.shape[1],
    }


def in_process(texts: list[str], model: str, settings: Settings) -> dict:
    embedder = get_embedder(model, settings)
    embedder.embed(["warm-up"])
    t0 = time.perf_counter()
    vectors = embedder.embed(texts)
    seconds = time.perf_counter() - t0
    return {
        "model": model,
        "workers": 0,
        "rows": len(texts),
        "seconds": round(seconds, 2),
        "rows_per_s": round(len(texts) / seconds, 1),
        "startup_s": 0.0,
        "dims": int(np.shape(vectors)[1]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--models", default="wordllama,minilm")
    parser.add_argument("--workers", default="1,2", help="comma-separated LocalCluster sizes")
    parser.add_argument("--minilm-rows", type=int, default=None, help="fewer rows for MiniLM (default: --rows)")
    args = parser.parse_args()
    settings = Settings(embed_cache_size=0)
    texts = profiles(args.rows)
    for model in args.models.split(","):
        rows = texts[: args.minilm_rows] if model == "minilm" and args.minilm_rows else texts
        print(json.dumps(in_process(rows, model, settings)), flush=True)
        for workers in (int(w) for w in args.workers.split(",")):
            print(json.dumps(measure(rows, model, workers, settings)), flush=True)


if __name__ == "__main__":
    main()
