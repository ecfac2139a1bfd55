"""Ratings from O*NET's own title lists: a day-one history of matches for an occupations corpus.

O*NET lists 52,754 alternate titles employers use for its occupations
(`examples/data/onet_alternate_titles.tsv.gz`, O*NET 27.0, CC BY 4.0). Each (title, occupation) pair
is a match someone already made; written as a ratings file (`query,corpus,id,verdict,by,note`) it
goes through `lakehouse rate --file` and `lakehouse adapt` like a coordinator's historical
placements. Measured in BENCHMARKS.md ("LEARNING", `bench.learning.pairs`): the learning keeps
improving from 2,000 to 42,000 recorded titles.

Titles that appear (case- and space-folded) in an `exclude` file are left out, so a test set stays
unseen; pairs whose occupation is not a row of the corpus are left out and counted.
"""

from __future__ import annotations

import csv
import gzip
import json
import random
from dataclasses import dataclass
from pathlib import Path

from lakehouse.common.recordfile import atomic_text_file
from lakehouse.common.text import fold
from lakehouse.learning.errors import RatingError
from lakehouse.learning.lift.queries import read_queries

ALTERNATE_TITLES = Path(__file__).resolve().parents[2] / "examples" / "data" / "onet_alternate_titles.tsv.gz"
SOURCE = "onet-27.0-alternate-titles"


def alternate_titles(seed: int = 7) -> list[dict]:
    """Every distinct (folded) alternate title as `{"query", "expected"}` with all the occupations
    that list it, in a seeded random order."""
    labels: dict[str, tuple[str, set[str]]] = {}
    with gzip.open(ALTERNATE_TITLES, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            title = row["Alternate Title"].strip()
            if title:
                labels.setdefault(fold(title), (title, set()))[1].add(row["O*NET-SOC Code"])
    items = [{"query": title, "expected": sorted(codes)} for title, codes in labels.values()]
    random.Random(seed).shuffle(items)
    return items


def excluded_queries(paths: list[Path]) -> set[str]:
    """The folded queries of lift files (JSONL `{"query": ...}`), e.g. the test sets to keep unseen."""
    return {fold(line.item.query) for path in paths for line in read_queries(path)}


@dataclass
class SeedResult:
    path: str
    corpus: str
    ratings: int
    titles: int
    excluded_titles: int
    not_in_corpus: int


def write_title_ratings(
    out: Path, corpus: str, corpus_ids: set[str], exclude: list[Path], limit: int | None = None, seed: int = 7
) -> SeedResult:
    """Write one `good` rating per (title, occupation) pair to `out` (.csv or .jsonl)."""
    if out.suffix.lower() not in (".csv", ".jsonl"):
        raise RatingError(f"--out {out}: expected a .csv or .jsonl file name")
    if limit is not None and limit < 1:
        raise RatingError(f"--titles {limit}: give at least 1 title")
    banned = excluded_queries(exclude)
    every = alternate_titles(seed)
    titles = [item for item in every if fold(item["query"]) not in banned]
    rows, missing, used = [], 0, 0
    for item in titles:
        if limit is not None and used >= limit:
            break
        known = [code for code in item["expected"] if code in corpus_ids]
        missing += len(item["expected"]) - len(known)
        if known:
            used += 1
            rows += [
                {"query": item["query"], "corpus": corpus, "id": code, "verdict": "good", "by": SOURCE, "note": ""}
                for code in known
            ]
    with atomic_text_file(out, newline="") as handle:
        if out.suffix.lower() == ".csv":
            writer = csv.DictWriter(handle, fieldnames=["query", "corpus", "id", "verdict", "by", "note"])
            writer.writeheader()
            writer.writerows(rows)
        else:
            handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    return SeedResult(str(out), corpus, len(rows), used, len(every) - len(titles), missing)
