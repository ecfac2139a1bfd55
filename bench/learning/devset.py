"""Build the real job-title dev sets of the learning benchmark from O*NET's own title lists.

Sources (vendored, CC BY 4.0, see examples/data/README.md): `onet_alternate_titles.tsv.gz` (52,754
alternate titles employers use, O*NET 27.0) and `onet_reported_titles.tsv.gz` (7,541 titles survey
respondents reported). Each title's expected answers are every occupation that lists it. Titles
equal to an occupation's official title are left out (the corpus text starts with it: no learning
is needed to find those). Train and test never share a title (compared case- and space-folded).

    python -m bench.learning.devset            # writes examples/lift/titles_*.jsonl

Output (seed 7, deterministic): titles_train.jsonl (2,000), titles_test.jsonl (500 other alternate
titles) and titles_reported_test.jsonl (500 reported titles not in the train set).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import random
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "examples" / "data"
OUT = ROOT / "examples" / "lift"


def _fold(text: str) -> str:
    return " ".join(text.lower().split())


def _titles(path: Path, column: str) -> dict[str, tuple[str, set[str]]]:
    """folded title -> (title as written, every occupation code that lists it)."""
    out: dict[str, tuple[str, set[str]]] = {}
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            title = row[column].strip()
            if title:
                out.setdefault(_fold(title), (title, set()))[1].add(row["O*NET-SOC Code"])
    return out


def _official() -> tuple[set[str], set[str]]:
    with (DATA / "occupations.tsv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return {r["O*NET-SOC Code"] for r in rows}, {_fold(r["Title"]) for r in rows}


def build(seed: int = 7, train_size: int = 2000, test_size: int = 500) -> dict[str, list[dict]]:
    codes, official = _official()
    alternate = _titles(DATA / "onet_alternate_titles.tsv.gz", "Alternate Title")
    reported = _titles(DATA / "onet_reported_titles.tsv.gz", "Reported Job Title")
    labels: dict[str, set[str]] = defaultdict(set)
    for source in (alternate, reported):
        for folded, (_, found) in source.items():
            labels[folded] |= found
    unknown = {c for found in labels.values() for c in found} - codes
    if unknown:
        raise SystemExit(f"codes not in occupations.tsv: {sorted(unknown)[:5]}")

    def item(folded: str, written: str) -> dict:
        return {"query": written, "expected": sorted(labels[folded])}

    rng = random.Random(seed)
    pool = sorted(f for f in alternate if f not in official)
    rng.shuffle(pool)
    train, test = pool[:train_size], pool[train_size : train_size + test_size]
    taken = set(train)
    others = sorted(f for f in reported if f not in official and f not in taken)
    rng.shuffle(others)
    return {
        "titles_train": [item(f, alternate[f][0]) for f in train],
        "titles_test": [item(f, alternate[f][0]) for f in test],
        "titles_reported_test": [item(f, reported[f][0]) for f in others[:test_size]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    sets = build(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, items in sets.items():
        path = args.out / f"{name}.jsonl"
        path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
        print(f"{path}: {len(items)} titles")


if __name__ == "__main__":
    main()
