"""Does the learning scale with the recorded matches? The lift run with 2,000 vs all of O*NET's
alternate titles recorded.

    .venv/bin/python -m bench.learning.pairs [--sizes 2000,10000,all] [--home DIR]
    .venv/bin/python -m bench.learning.pairs --sizes all --tests alternate --rerank both  # reranker, long history

Recorded (the lift's train file): a random `size` of O*NET's alternate titles with their
occupations (`lakehouse.learning.seed_titles`, what `lakehouse examples titles` writes as ratings),
leaving out every title, case- and space-folded, that is in a test file. Searched (never recorded):
the 500 alternate test titles and the 500 *reported* titles of the dev set
(`examples/lift/titles_*test.jsonl`), the latter a different source (what survey respondents
wrote), so a gain there is not a near-copy of a recorded title. Everything goes through
`lakehouse lift run --train --test` (record, vote, adapt, gate) on the `onet` corpus built once in
`--home`.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

from bench.learning.lift import TESTS
from bench.playbook_lift import ensure_onet
from lakehouse.common.recordfile import write_json_lines_atomic
from lakehouse.common.text import fold
from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.learning.lift.harness import run_lift
from lakehouse.learning.seed_titles import alternate_titles, excluded_queries


def _reranker(meta: dict) -> str:
    """The reranker's line in the table: kept or not, with the fold check's recall@1."""
    check = meta.get("check")
    if check is None:
        return meta.get("why", "off")
    verdict = "kept" if meta["kept"] else "dropped"
    return f"{verdict} ({check['recall_at_1_before']:.3f} -> {check['recall_at_1_after']:.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2000,all", help="how many titles to record, comma separated")
    parser.add_argument("--home", type=Path, help="LH_HOME to build (or reuse) the onet corpus in")
    parser.add_argument("--tests", default="alternate,reported", help="test sets, comma separated: alternate, reported")
    parser.add_argument(
        "--rerank", choices=("on", "off", "both"), default="on", help="train the reranker (both: off, then on)"
    )
    args = parser.parse_args()
    tests = {name: path for name, path in TESTS.items() if name.split()[0] in args.tests.split(",")}
    reranks = {"on": [True], "off": [False], "both": [False, True]}[args.rerank]
    home = args.home or Path(tempfile.mkdtemp(prefix="bench-pairs-"))
    lh = Lakehouse(Settings(home=home))
    ensure_onet(lh)
    banned = excluded_queries(list(TESTS.values()))
    pool = [item for item in alternate_titles() if fold(item["query"]) not in banned]
    print(f"{len(pool)} alternate titles not in a test file\n")
    print("| recorded | test set | reranker | cold | warm (vote) | adapted | lift s | adapt cpu s | reranker cpu s |")
    print("|---|---|---|---|---|---|---:|---:|---:|")
    for size in args.sizes.split(","):
        chosen = pool if size.strip() == "all" else pool[: int(size)]
        train = home / f"train-{len(chosen)}.jsonl"
        write_json_lines_atomic(train, chosen)
        for (name, test), rerank in itertools.product(tests.items(), reranks):
            started = time.perf_counter()
            result, _ = run_lift(lh, ["onet"], train=train, test=test, out_dir=home / "lift-pairs", rerank=rerank)
            r, adapt = result.report, result.meta.get("adapt") or {}
            cells = [
                f"{r[f'recall_at_1_{k}']:.3f} / {r[f'recall_at_10_{k}']:.3f}"
                if r.get(f"recall_at_1_{k}") is not None
                else "n/a"
                for k in ("cold", "warm", "adapted")
            ]
            said = "; ".join(_reranker(c["rerank"]) for c in adapt.get("corpora", {}).values()) or "n/a"
            print(
                f"| {len(chosen):,} | {name} | {said} | {' | '.join(cells)} | {time.perf_counter() - started:.0f} "
                f"| {adapt.get('cpu_s', 'n/a')} | {adapt.get('rerank_cpu_s', 'n/a')} |",
                flush=True,
            )
    lh.close()


if __name__ == "__main__":
    main()
