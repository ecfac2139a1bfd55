"""Measuring how deep a line of JSON nests without parsing it (`bracket_depth`: the MCP stdio screen
and the JSON-lines ingest screen), against the scan it replaced and `json.loads`, in one run.

    .venv/bin/python -m bench.bracket_depth [--repeat 3]

The scan before (stop 38) matched each string with a regex that a quote nothing closes sent back
to the next quote: a line of escaped quotes took time quadratic in its length, inside the regex
engine, which holds the GIL (one 100 KB ingest upload froze the API process for 44 s). Now strings
are matched possessively (an open one runs to the end of the line) and brackets counted by numpy.
The quadratic case runs the old scan on small inputs only. Medians of --repeat runs.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from collections.abc import Callable

from lakehouse.common.text import bracket_depth

_BEFORE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def before(text: str) -> int:
    """`bracket_depth` as it was before stop 38."""
    depth = deepest = 0
    for match in _BEFORE.finditer(text):
        char = match.group()
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def parse(text: str) -> int:
    json.loads(text)
    return 0


def _median(fn: Callable[[str], int], text: str, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(text)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args, _ = parser.parse_known_args()
    valid = json.dumps([{"title": f"Registered Nurse {i}", "codes": ["29-1141.00", [i]]} for i in range(200_000)])
    cases: list[tuple[str, str, list[tuple[str, Callable[[str], int]]]]] = [
        (f"valid JSON, {len(valid) / 1e6:.1f} MB", valid, [("json.loads", parse), ("before", before)]),
        ("10 MB of `[`", "[" * 10_000_000, [("before", before)]),
        ("50 MB of `[` (the MCP probe's line)", "[" * 50_000_000, []),
    ]
    for size in (10_000, 20_000, 40_000):
        text = "[" * 200 + '"' + '\\"' * size
        cases.append((f'`[`x200, a quote, `\\"`x{size:,} ({len(text) / 1e3:.0f} KB)', text, [("before", before)]))
    text = "[" * 200 + '"' + '\\"' * 4_000_000
    cases.append((f'the same, `\\"`x4,000,000 ({len(text) / 1e6:.0f} MB)', text, []))
    print(f"median of {args.repeat} runs\n")
    print("| input | bracket_depth | baselines (same run) |")
    print("|---|---:|---|")
    for label, text, baselines in cases:
        now = _median(bracket_depth, text, args.repeat)
        others = ", ".join(f"{name} {_median(fn, text, args.repeat):.3f} s" for name, fn in baselines) or "-"
        print(f"| {label} | {now:.3f} s | {others} |")


if __name__ == "__main__":
    main()
