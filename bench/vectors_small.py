"""A small corpus searched whole and exactly, against the hnswlib walk it replaced.

    .venv/bin/python -m bench.vectors_small [--sizes 1016 5000 10000] [--queries 500]

Up to `EXACT_WHOLE_MAX_ROWS` rows, `VectorIndex.search` answers by a matrix product over every
row (`_exact`) instead of hnswlib's walk; the sizes show where that cut sits. For each size, on
the clustered mixture of `bench.vectors` (held-out queries), and on the real O*NET occupations
(MiniLM, the dev set's 500 alternate test titles as queries, mapped by the adapter trained on the
2,000 recorded titles, as an adapted corpus searches them): single-query latency of both at k = 30
(the candidates the reranker reorders), the walk's recall@30 against exact, and how many queries
get another top 30 from a second build of the graph on two threads. Baseline and subject in the
same run.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from bench.vectors import build, percentiles, sphere_mixture, time_each
from lakehouse.config import Settings
from lakehouse.search.vectors.index import HnswParams, VectorIndex

K = 30
REPO = Path(__file__).resolve().parents[1]


def walk(index: VectorIndex, queries: np.ndarray) -> np.ndarray:
    return index._index.knn_query(queries, k=K, num_threads=1)[0]


def row(name: str, data: np.ndarray, queries: np.ndarray, params: HnswParams) -> str:
    first, _, _ = build(data, params)
    second, _, _ = build(data, params)
    exact = first._exact(queries, K, None)[0]
    walked, again = walk(first, queries), walk(second, queries)
    recall = float(np.mean([len(set(w) & set(e)) / K for w, e in zip(walked, exact, strict=True)]))
    differ = int(sum(a.tolist() != b.tolist() for a, b in zip(walked, again, strict=True)))
    exact_p50, exact_p99 = percentiles(time_each(lambda q: first._exact(q[None, :], K, None), queries))
    walk_p50, walk_p99 = percentiles(time_each(lambda q: walk(first, q[None, :]), queries))
    return (
        f"| {name} | {len(data):,} | {exact_p50:.3f} / {exact_p99:.3f} | {walk_p50:.3f} / {walk_p99:.3f} | "
        f"{recall:.3f} | {differ} of {len(queries)} |"
    )


def onet(settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """The O*NET rows as the product builds them (`row_vectors`: Title + Description, and the
    title), and the dev set's test titles mapped by an adapter trained on the recorded ones."""
    import csv

    from bench.learning.lift import alternate_titles
    from lakehouse.learning.adapter_training import train
    from lakehouse.search.embed import get_embedder
    from lakehouse.search.vectors.source import SourceRows, row_vectors

    with (REPO / "examples" / "data" / "occupations.tsv").open(newline="") as handle:
        occupations = list(csv.DictReader(handle, delimiter="\t"))
    embedder = get_embedder(settings.embed_model, settings)
    ids = [o["O*NET-SOC Code"] for o in occupations]
    texts, titles = [f"{o['Title']}\n{o['Description']}" for o in occupations], [o["Title"] for o in occupations]
    rows = row_vectors(embedder.embed, SourceRows(None, ids=ids, texts=texts, titles=titles))
    dev = alternate_titles()
    recorded, searched = dev[:2000], dev[2000:]
    adapter = train(embedder.embed([t["query"] for t in recorded]), [t["expected"][0] for t in recorded], ids, rows)
    return rows, adapter.adapt_query(embedder.embed([t["query"] for t in searched]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1016, 5000, 10_000])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    settings = Settings()
    params = HnswParams(
        m=settings.hnsw_m, ef_construction=settings.hnsw_ef_construction, ef=settings.hnsw_ef, threads=2
    )
    print(f"k = {K}; hnswlib M={params.m} ef_construction={params.ef_construction} ef={params.ef}, 2 build threads")
    print(f"cores={os.cpu_count()}, load average {os.getloadavg()[0]:.1f}\n")
    print("| data | rows | exact p50 / p99 ms | walk p50 / p99 ms | walk recall@30 | other top 30, second build |")
    print("|---|---:|---:|---:|---:|---:|")
    rng = np.random.default_rng(args.seed)
    for n in args.sizes:
        mixed = sphere_mixture(n + args.queries, args.dims, rng)
        print(row("mixture", mixed[:n], mixed[n:], params), flush=True)
    rows, queries = onet(settings)
    print(row("O*NET, adapted test titles", rows, queries, params))


if __name__ == "__main__":
    main()
