"""Is a learning gain bigger than the luck of one split? Cold / adapted recall over random re-splits.

    .venv/bin/python -m bench.learning.resplit [--splits 5] [--seed 11] [--lift]

The 2,500 alternate titles of the dev set (`titles_train.jsonl` + `titles_test.jsonl`, distinct
titles) are pooled and cut at random `--splits` times into 2,000 recorded and 500 searched. On each
split, for the `onet` corpus built with the title vector (`--title auto`, the default) and without
(`--title none`, the baseline of the same run): cold recall (the corpus vectors as built) and
adapted recall (the product's adapter, `lakehouse.learning.adapter_training.train`, trained on the 2,000 and
applied as a search applies it: mapped query, moved rows; the playbook vote left out). The corpora
are built once each in temporary homes (`--home DIR` keeps them for a re-run). `--lift` also runs
the product's whole lift (`lakehouse lift run --train --test`: record, playbook vote, adapter) on
each split of the title-auto corpus, so warm and adapted are what a user's lift run reports.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from bench.learning.lift import alternate_titles, resplits, write_split
from bench.playbook_lift import ensure_onet
from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.learning.adapt import corpus_rows
from lakehouse.learning.adapter_training import train
from lakehouse.learning.lift.harness import run_lift


def _recall(scores: np.ndarray, expected: list[set[str]], ids: np.ndarray) -> tuple[float, float]:
    top = np.argsort(-scores, axis=1)[:, :10]
    at1 = np.mean([ids[row[0]] in want for row, want in zip(top, expected, strict=True)])
    at10 = np.mean([bool(want & set(ids[row])) for row, want in zip(top, expected, strict=True)])
    return float(at1), float(at10)


def measure(ids: list[str], corpus: np.ndarray, queries: np.ndarray, titles: list[dict], splits: list) -> list:
    """(cold r@1, cold r@10, adapted r@1, adapted r@10) per split."""
    row_ids, position = np.array(ids), {row_id: i for i, row_id in enumerate(ids)}
    out = []
    for recorded, searched in splits:
        expected = [set(titles[i]["expected"]) for i in searched]
        adapter = train(queries[recorded], [titles[i]["expected"][0] for i in recorded], ids, corpus)
        moved = corpus.copy()
        for i, row_id in enumerate(adapter.ids):
            moved[position[row_id]] = adapter.vectors[i]
        cold = _recall(queries[searched] @ corpus.T, expected, row_ids)
        adapted = _recall(adapter.adapt_query(queries[searched]) @ moved.T, expected, row_ids)
        out.append((*cold, *adapted))
    return out


def product_lift(lh: Lakehouse, titles: list[dict], splits: list, out: Path) -> list:
    """(warm r@1, warm r@10, adapted r@1, adapted r@10) per split, from the product's lift run."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for n, (recorded, searched) in enumerate(splits, 1):
        train, test = write_split(titles, recorded, searched, out, f"split{n}-")
        result, _ = run_lift(lh, ["onet"], train=train, test=test, out_dir=out)
        r = result.report
        rows.append(
            (r["recall_at_1_warm"], r["recall_at_10_warm"], r["recall_at_1_adapted"], r["recall_at_10_adapted"])
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--home", type=Path, help="keep the two corpora under DIR/auto and DIR/none")
    parser.add_argument("--lift", action="store_true", help="also the product's lift run on each split (title auto)")
    args = parser.parse_args()
    base = args.home or Path(tempfile.mkdtemp(prefix="bench-resplit-"))
    titles = alternate_titles()
    splits = resplits(args.splits, args.seed, published=False)
    results = {}
    for title in ("auto", "none"):
        lh = Lakehouse(Settings(home=base / title))
        ensure_onet(lh, title)
        loaded = lh.corpora.get("onet")
        ids, corpus = corpus_rows(lh, loaded)
        queries = lh.corpora.embedder(loaded.manifest.model).embed([t["query"] for t in titles])
        results[title] = measure(ids, corpus, queries, titles, splits)
        if args.lift and title == "auto":
            lifted = product_lift(lh, titles, splits, base / "lift-splits")
        lh.close()
    print(f"{args.splits} random splits of {len(titles)} alternate titles (seed {args.seed}): ", end="")
    print("2,000 recorded, 500 searched\n")
    print("| corpus | split | cold r@1 / r@10 | adapted r@1 / r@10 |\n|---|---|---|---|")
    for title, rows in results.items():
        for n, (c1, c10, a1, a10) in enumerate(rows, 1):
            print(f"| title {title} | {n} | {c1:.3f} / {c10:.3f} | {a1:.3f} / {a10:.3f} |")
        c1, c10, a1, a10 = np.mean(rows, axis=0)
        print(f"| title {title} | **mean** | **{c1:.3f} / {c10:.3f}** | **{a1:.3f} / {a10:.3f}** |")
    gain = np.array(results["auto"]) - np.array(results["none"])
    print(f"\ntitle auto - none, per split (adapted r@1): {', '.join(f'{g:+.3f}' for g in gain[:, 2])}")
    if args.lift:
        print("\nThe product's lift run on each split (title auto; warm = the playbook vote, adapted = + adapter)\n")
        print("| split | warm r@1 / r@10 | adapted r@1 / r@10 | best r@1 |\n|---|---|---|---|")
        for n, (w1, w10, a1, a10) in enumerate(lifted, 1):
            print(f"| {n} | {w1:.3f} / {w10:.3f} | {a1:.3f} / {a10:.3f} | {max(w1, a1):.3f} |")
        w1, w10, a1, a10 = np.mean(lifted, axis=0)
        best = np.mean([max(row[0], row[2]) for row in lifted])
        print(f"| **mean** | **{w1:.3f} / {w10:.3f}** | **{a1:.3f} / {a10:.3f}** | **{best:.3f}** |")


if __name__ == "__main__":
    main()
