"""The product's reranker, on and off, through the product's own lift run, paired over re-splits.

    .venv/bin/python -m bench.learning.rerank_lift [--splits 5] [--seed 123] [--home DIR] [--at 0.322]

`bench.learning.rerank` measured a reranker in numpy; this measures the one `lakehouse adapt` and
`lift run` train (`lakehouse.learning.rerank_training`). Each split of the dev set's 2,500
alternate titles (the published one first, then `--splits` random ones of `--seed`) records 2,000
and searches 500 with `lift run --train --test` twice: `--no-rerank` (the baseline, the adapter and
the vote) and with the reranker. Then the published 2,000 against the 500 reported titles (another
source). Printed: adapted recall@1 / recall@10 of both, the paired change, the reranker's own check
(recall@1 before / after on the recorded queries its folds did not see) and its CPU seconds.
With several splits, also where a split's difficulty puts the adapted recall@1: its least-squares
line on the split's cold recall@1, read at `--at` (the issue's held-out split had cold 0.322).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.learning.lift import TESTS, alternate_titles, resplits, write_split
from bench.playbook_lift import ensure_onet
from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.learning.lift.harness import run_lift


def both(lh: Lakehouse, train: Path, test: Path, out: Path) -> dict:
    row: dict = {}
    for name, rerank in (("off", False), ("on", True)):
        started = time.perf_counter()
        result, _ = run_lift(lh, ["onet"], train=train, test=test, out_dir=out / name, rerank=rerank)
        report, adapt = result.report, result.meta["adapt"]
        row[name] = (report["recall_at_1_adapted"], report["recall_at_10_adapted"])
        row[f"{name} s"] = time.perf_counter() - started
        row["cold"] = report["recall_at_1_cold"]
        if rerank:
            row["rerank"] = adapt["corpora"]["onet"]["rerank"]
            row["rerank cpu s"] = adapt["rerank_cpu_s"]
            row["adapter cpu s"] = adapt["cpu_s"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=5, help="random re-splits after the published one")
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--home", type=Path, help="LH_HOME to build (or reuse) the onet corpus in")
    parser.add_argument("--at", type=float, default=0.322, help="cold recall@1 to read the difficulty fit at")
    args = parser.parse_args()
    lh = Lakehouse(Settings(home=args.home or Path(tempfile.mkdtemp(prefix="bench-rerank-lift-"))))
    ensure_onet(lh)
    if lh.corpora.get("onet").adapter is not None:
        raise SystemExit("the onet corpus of --home has a live adapter: use a home whose live generation has none")
    work = Path(tempfile.mkdtemp(prefix="bench-rerank-splits-"))
    alternate = alternate_titles()
    cuts = resplits(args.splits, args.seed)
    print(f"{len(cuts)} splits (the published one + {args.splits} of seed {args.seed}), 2,000 recorded, 500 searched")
    rows = []
    for n, (recorded, searched) in enumerate(cuts):
        folder = work / str(n)
        folder.mkdir()
        row = both(lh, *write_split(alternate, recorded, searched, folder), folder)
        rows.append(row)
        check = row["rerank"].get("check") or {}
        print(
            f"split {'published' if n == 0 else n}: cold {row['cold']:.3f}, off {row['off'][0]:.3f} / "
            f"{row['off'][1]:.3f}, "
            f"on {row['on'][0]:.3f} / {row['on'][1]:.3f}; kept {row['rerank']['kept']}, check "
            f"{check.get('recall_at_1_before')} -> {check.get('recall_at_1_after')}; adapter "
            f"{row['adapter cpu s']:.1f} CPU s, reranker {row['rerank cpu s']:.1f} CPU s; lift run "
            f"{row['off s']:.0f} s / {row['on s']:.0f} s wall",
            flush=True,
        )
    off, on = np.array([r["off"] for r in rows]), np.array([r["on"] for r in rows])
    change = on - off
    print(
        f"\nmean: off {off[:, 0].mean():.3f} / {off[:, 1].mean():.3f}, on {on[:, 0].mean():.3f} / "
        f"{on[:, 1].mean():.3f}; change {change[:, 0].mean():+.4f} (sd {change[:, 0].std():.4f}) / "
        f"{change[:, 1].mean():+.4f} (sd {change[:, 1].std():.4f}); recall@1 up on "
        f"{int((change[:, 0] > 0).sum())} of {len(rows)} splits, down on {int((change[:, 0] < 0).sum())}"
    )
    if len(rows) >= 3:
        cold = np.array([r["cold"] for r in rows])
        for name, adapted in (("off", off[:, 0]), ("on", on[:, 0])):
            slope, intercept = np.polyfit(cold, adapted, 1)
            residual = adapted - (slope * cold + intercept)
            print(
                f"difficulty fit, {name}: adapted recall@1 = {slope:.3f} cold + {intercept:.3f} (correlation "
                f"{np.corrcoef(cold, adapted)[0, 1]:.2f}, residual sd {residual.std(ddof=2):.4f}): "
                f"{slope * args.at + intercept:.3f} at cold {args.at}; {int((adapted >= 0.42).sum())} of "
                f"{len(rows)} splits reach 0.42"
            )
    reported = both(lh, work / "0" / "train.jsonl", TESTS["reported titles"], work / "reported")
    print(
        f"reported titles (the published 2,000 recorded): off {reported['off'][0]:.3f} / "
        f"{reported['off'][1]:.3f}, on {reported['on'][0]:.3f} / {reported['on'][1]:.3f}"
    )
    lh.close()


if __name__ == "__main__":
    main()
