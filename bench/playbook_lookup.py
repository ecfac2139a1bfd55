"""The playbook lookup of one search at a long history: ordering the 20 nearest recorded queries
(`most_similar_first`) against sorting every entry (the baseline, what the lookup did before
2026-12-04), on the same similarity vectors, with the same positions checked. The history: O*NET's
alternate titles (the repo's copy), embedded with the real wordllama model (seconds for 42,000).

    .venv/bin/python -m bench.playbook_lookup            # --entries 42000 --queries 500
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from lakehouse.config import Settings
from lakehouse.learning.seed_titles import alternate_titles
from lakehouse.search.embed import get_embedder
from lakehouse.search.playbooks import most_similar_first

NEIGHBOURS = 20  # what a search asks for (`playbook_neighbours`)
FLOOR = 0.3  # `playbook_min_similarity`


def sort_everything(sims: np.ndarray) -> list[int]:
    out: list[int] = []
    for position in np.argsort(-sims, kind="stable"):
        if sims[position] < FLOOR or len(out) == NEIGHBOURS:
            break
        out.append(int(position))
    return out


def order_what_is_taken(sims: np.ndarray) -> list[int]:
    out: list[int] = []
    for position in most_similar_first(sims, FLOOR, NEIGHBOURS):
        out.append(position)
        if len(out) == NEIGHBOURS:
            break
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=42_000)
    parser.add_argument("--queries", type=int, default=500)
    args = parser.parse_args()
    titles = [item["query"] for item in alternate_titles(seed=7)]
    if args.entries + args.queries > len(titles):
        raise SystemExit(f"--entries + --queries: at most {len(titles):,} titles")
    embedder = get_embedder("wordllama", Settings())
    entries = embedder.embed(titles[: args.entries]).astype(np.float32)
    queries = embedder.embed(titles[args.entries : args.entries + args.queries]).astype(np.float32)
    sims = [entries @ q for q in queries]
    above = np.mean([np.mean(s >= FLOOR) for s in sims])
    ways = {"sort every entry (baseline)": sort_everything, "order what is taken": order_what_is_taken}
    timings: dict[str, list[float]] = {name: [] for name in ways}
    results: dict[str, list[list[int]]] = {name: [] for name in ways}
    for s in sims:  # interleaved: load from other processes hits both alike
        for name, fn in ways.items():
            start = time.perf_counter()
            results[name].append(fn(s))
            timings[name].append(time.perf_counter() - start)
    same = results["sort every entry (baseline)"] == results["order what is taken"]
    print(
        f"{args.entries:,} recorded entries ({above:.0%} above the {FLOOR} floor per query), "
        f"{args.queries} queries, the {NEIGHBOURS} nearest; same positions: {same}\n"
    )
    print("| ordering | p50 ms | p99 ms |")
    print("|---|---:|---:|")
    for name, samples in timings.items():
        ms = np.asarray(samples) * 1000
        print(f"| {name} | {np.percentile(ms, 50):.3f} | {np.percentile(ms, 99):.3f} |")
    if not same:
        raise SystemExit("the two orderings disagree")


if __name__ == "__main__":
    main()
