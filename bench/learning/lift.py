"""Do recorded matches make the next, different queries better? Real job titles, cold / warm / adapted.

    .venv/bin/python -m bench.learning [--home DIR] [--title none]

Data: the dev sets `python -m bench.learning.devset` cut from O*NET's own title lists (train and
test never share a title): 2,000 alternate titles recorded with their occupation, then 500 other
alternate titles and 500 reported titles searched, never recorded. Corpus: the 1,016 O*NET
occupations (Title + Description) with the default model (MiniLM), built once per `--home`.

Measured in one run, all through the product's own code:
- the paraphrase lift (`lakehouse lift run --train --test`): cold (playbooks off, the baseline),
  warm (the playbook vote), adapted (warm + the adapter `lakehouse adapt` trains, into the lift's
  own store) recall@1 / recall@10, with the adapt time and peak memory;
- the plain kNN-vote baseline of the issue on the same embeddings: the answers of the 10 recorded
  titles nearest to the query, weighted by similarity (cosine order breaks ties);
- verbatim replay: the first 500 train titles recorded then searched again (memory);
- `lakehouse search --top 10` (the CLI, default settings, playbooks off) recall@10 on the test titles.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.playbook_lift import ensure_onet
from lakehouse.common.recordfile import write_json_lines_atomic
from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.learning.lift.harness import run_lift

REPO = Path(__file__).resolve().parents[2]
LIFT = REPO / "examples" / "lift"
TRAIN = LIFT / "titles_train.jsonl"
TESTS = {"alternate titles": LIFT / "titles_test.jsonl", "reported titles": LIFT / "titles_reported_test.jsonl"}


def _items(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def alternate_titles() -> list[dict]:
    """The dev set's 2,500 alternate titles: the published 2,000 recorded, then the 500 searched."""
    return _items(TRAIN) + _items(TESTS["alternate titles"])


def resplits(count: int, seed: int, published: bool = True) -> list[tuple[np.ndarray, np.ndarray]]:
    """(recorded, searched) positions into `alternate_titles()`: the published split first (unless
    not `published`), then `count` random cuts of 2,000 / 500 drawn from `seed`."""
    rng = np.random.default_rng(seed)
    cuts = [(np.arange(2000), np.arange(2000, 2500))] if published else []
    return cuts + [(p[:2000], p[2000:2500]) for p in (rng.permutation(2500) for _ in range(count))]


def write_split(titles: list[dict], recorded, searched, folder: Path, prefix: str = "") -> tuple[Path, Path]:
    """A split as the lift's train and test files, `folder/<prefix>train.jsonl` and `...test.jsonl`."""
    train, test = folder / f"{prefix}train.jsonl", folder / f"{prefix}test.jsonl"
    write_json_lines_atomic(train, [titles[i] for i in recorded])
    write_json_lines_atomic(test, [titles[i] for i in searched])
    return train, test


def knn_vote_baseline(lh: Lakehouse, train: list[dict], test: list[dict], k: int = 10) -> dict[str, str]:
    """The plain kNN vote of the issue on the same embeddings: each of the k recorded titles nearest
    to the query votes for its answer with its similarity. `vote only` ranks by the vote (cosine
    order breaks ties); `cosine + vote` adds the vote's share (votes / sum of the k similarities) to
    the cosine similarity."""
    corpus = lh.corpora.get("onet")
    embed = lh.corpora.embedder(corpus.manifest.model).embed
    recorded, queries = embed([t["query"] for t in train]), embed([t["query"] for t in test])
    hits = corpus.search(queries, corpus.count)  # every row, nearest first
    sims = queries @ recorded.T
    found = {"vote only": [0, 0], "cosine + vote": [0, 0]}
    for row, item in enumerate(test):
        votes: dict[str, float] = {}
        nearest = np.argsort(-sims[row])[:k]
        for j in nearest:
            answer = train[j]["expected"][0]
            votes[answer] = votes.get(answer, 0.0) + float(sims[row, j])
        total = float(sum(sims[row, j] for j in nearest)) or 1.0
        cosine = {h.id: h.score for h in hits[row]}
        rankings = {
            "vote only": sorted(cosine, key=lambda i: (-votes.get(i, 0.0), -cosine[i])),
            "cosine + vote": sorted(cosine, key=lambda i: -(cosine[i] + votes.get(i, 0.0) / total)),
        }
        wanted = set(item["expected"])
        for name, ranked in rankings.items():
            found[name][0] += ranked[0] in wanted
            found[name][1] += bool(wanted & set(ranked[:10]))
    return {name: f"{a / len(test):.3f} / {b / len(test):.3f}" for name, (a, b) in found.items()}


def cli_recall_at_10(home: Path, test: list[dict]) -> float:
    """`lakehouse search --top 10 --no-playbook` as a user runs it (a batch file, one process)."""
    with tempfile.TemporaryDirectory() as tmp:
        batch = Path(tmp) / "queries.jsonl"
        write_json_lines_atomic(batch, [{"query": t["query"]} for t in test])
        out = subprocess.run(
            [str(Path(sys.executable).parent / "lakehouse"), "search", "--batch", str(batch), "--corpus", "onet"]
            + ["--top", "10", "--no-playbook"],
            env={**os.environ, "LH_HOME": str(home)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    results = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    found = sum(
        bool(set(t["expected"]) & {h["id"] for h in r["hits"][:10]}) for t, r in zip(test, results, strict=True)
    )
    return round(found / len(test), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="LH_HOME to build (or reuse) the onet corpus in")
    parser.add_argument(
        "--title", default="auto", help="the corpus's title column (`corpus build --title`): auto (Title) or none"
    )
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="bench-learning-"))
    lh = Lakehouse(Settings(home=home))
    build = ensure_onet(lh, args.title)
    title = lh.corpora.manifest("onet").source.title_col
    print(
        f"corpus onet: {lh.corpora.get('onet').count} occupations, title column {title}"
        + (f", built in {build:.0f} s" if build else "")
    )
    train = _items(TRAIN)
    out = home / "lift-bench"
    rows = []
    for name, path in TESTS.items():
        started = time.perf_counter()
        result, _ = run_lift(lh, ["onet"], train=TRAIN, test=path, out_dir=out)
        r, adapt = result.report, result.meta.get("adapt") or {}
        knn = knn_vote_baseline(lh, train, _items(path))
        rows.append((name, r, adapt, knn, time.perf_counter() - started))
    subset = out / "verbatim.jsonl"
    write_json_lines_atomic(subset, train[:500])
    verbatim, _ = run_lift(lh, ["onet"], queries=subset, out_dir=out)
    cli10 = cli_recall_at_10(home, _items(TESTS["alternate titles"]))
    lh.close()

    print(f"\n{len(train)} titles recorded; recall on titles never recorded:\n")
    print(
        "| test set | cold (baseline) | kNN vote only (k=10) | cosine + kNN vote (k=10) | warm (playbook vote) "
        "| adapted (+ adapter) |\n|---|---|---|---|---|---|"
    )
    for name, r, _adapt, knn, _s in rows:
        print(
            f"| {name}, {r['test_queries']} | {r['recall_at_1_cold']:.3f} / {r['recall_at_10_cold']:.3f} "
            f"| {knn['vote only']} | {knn['cosine + vote']} "
            f"| {r['recall_at_1_warm']:.3f} / {r['recall_at_10_warm']:.3f} "
            f"| {_fmt(r.get('recall_at_1_adapted'))} / {_fmt(r.get('recall_at_10_adapted'))} |"
        )
    print("\n(each cell: recall@1 / recall@10)\n")
    for name, _r, adapt, _knn, seconds in rows:
        print(f"- {name}: whole lift run {seconds:.0f} s; adapt: {json.dumps(adapt, sort_keys=True)}")
    v = verbatim.report
    print(f"- verbatim replay, {v['queries']} recorded titles searched again: recall@1 warm {v['recall_at_1_warm']}")
    print(f"- `lakehouse search --top 10 --no-playbook` recall@10 on the alternate test titles: {cli10}")


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    main()
