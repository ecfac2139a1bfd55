"""Playbook lift on the real O*NET occupations: verbatim replay and paraphrase pass, cold vs warm.

    .venv/bin/python -m bench.playbook_lift [--home DIR] [--sweep]

Builds (once per `--home`; a temporary one by default) the `onet` corpus from
`examples/data/occupations.tsv` with the default embedding model, then runs the harness of
`lakehouse/learning/lift/harness.py` with the labels judge on the shipped development set:
- verbatim replay of `examples/lift/onet_dev.jsonl`;
- paraphrase pass: record `onet_train.jsonl`, measure `onet_test.jsonl` (never recorded).
The baseline is the cold pass of the same run (playbooks off). `--sweep` repeats both at other
values of the two documented knobs, `playbook_min_similarity` and `playbook_boost`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.data.ingest import ingest_file
from lakehouse.learning.lift.harness import run_lift

REPO = Path(__file__).resolve().parents[1]
LIFT = REPO / "examples" / "lift"
SWEEP = [(0.5, 0.8), (0.6, 0.5), (0.7, 0.8), (0.8, 0.8)]


def ensure_onet(lh: Lakehouse, title: str = "auto") -> float:
    """Build the `onet` corpus (Title + Description; `title`: see `corpus build --title`) unless it exists."""
    if lh.corpora.exists("onet"):
        return 0.0
    started = time.perf_counter()
    ingest_file(lh.tables, REPO / "examples" / "data" / "occupations.tsv", "onet_occupations", format="tsv")
    lh.corpora.build("onet", "onet_occupations", ["Title", "Description"], "O*NET-SOC Code", ["Title"], title_col=title)
    return time.perf_counter() - started


def one_setting(lh: Lakehouse, out: Path, min_similarity: float | None, boost: float | None) -> dict:
    started = time.perf_counter()
    verbatim, _ = run_lift(
        lh, ["onet"], queries=LIFT / "onet_dev.jsonl", out_dir=out, min_similarity=min_similarity, boost=boost
    )
    paraphrase, _ = run_lift(
        lh,
        ["onet"],
        train=LIFT / "onet_train.jsonl",
        test=LIFT / "onet_test.jsonl",
        out_dir=out,
        min_similarity=min_similarity,
        boost=boost,
    )
    return {
        "verbatim": verbatim.report,
        "paraphrase": paraphrase.report,
        "seconds": time.perf_counter() - started,
        "settings": (verbatim.meta["playbook_min_similarity"], verbatim.meta["playbook_boost"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="LH_HOME to build (or reuse) the onet corpus in")
    parser.add_argument("--sweep", action="store_true", help="also try other min_similarity / boost values")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="bench-lift-"))
    lh = Lakehouse(Settings(home=home))
    build = ensure_onet(lh)
    out = home / "lift-bench"
    runs = [one_setting(lh, out, None, None)]
    if args.sweep:
        runs += [one_setting(lh, out, ms, b) for ms, b in SWEEP]
    first = runs[0]
    v, p = first["verbatim"], first["paraphrase"]
    print(
        f"corpus onet: {lh.corpora.get('onet').count} occupations (built in {build:.0f} s)"
        if build
        else f"corpus onet: {lh.corpora.get('onet').count} occupations (reused from {home})"
    )
    print(
        f"\nverbatim replay, {v['queries']} queries "
        f"(min_similarity {first['settings'][0]}, boost {first['settings'][1]}):\n"
    )
    print("| metric | value |\n|---|---:|")
    for key, value in v.items():
        print(f"| {key} | {value} |")
    print(f"\nparaphrase pass, {p['train_queries']} train / {p['test_queries']} test queries:\n")
    print("| | cold (baseline) | warm | change |\n|---|---:|---:|---:|")
    for name in ("recall_at_1", "recall_at_10"):
        cold, warm = p[f"{name}_cold"], p[f"{name}_warm"]
        print(f"| {name.replace('_at_', '@')} | {cold:.3f} | {warm:.3f} | {warm - cold:+.3f} |")
    print(f"| test queries improved / worsened at top-1 | | | {p['improved']} / {p['worsened']} |")
    print(f"\nharness time per setting (both passes, model loaded): {first['seconds']:.1f} s")
    if args.sweep:
        print(
            "\n| min_similarity | boost | verbatim lift_rate | verbatim recall@1 warm "
            "| paraphrase recall@1 cold -> warm "
            "| recall@10 cold -> warm | improved / worsened |\n|---:|---:|---:|---:|---|---|---|"
        )
        for run in runs:
            v, p = run["verbatim"], run["paraphrase"]
            print(
                f"| {run['settings'][0]} | {run['settings'][1]} | {v['lift_rate']} | {v['recall_at_1_warm']:.3f} | "
                f"{p['recall_at_1_cold']:.3f} -> {p['recall_at_1_warm']:.3f} | "
                f"{p['recall_at_10_cold']:.3f} -> {p['recall_at_10_warm']:.3f} | {p['improved']} / {p['worsened']} |"
            )
    lh.close()


if __name__ == "__main__":
    main()
