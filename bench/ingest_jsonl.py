"""JSON-lines ingest: Lakehouse against raw tools, and what the nesting screen costs, in one run.

    .venv/bin/python -m bench.ingest_jsonl [--rows 1000000] [--repeat 3]

A generated JSON-lines file (flat columns, a list and a nested object per row) into an Iceberg
table (`ingest_file`: hash, the nesting screen, parse, check, write, commit) vs pyarrow `read_json`
+ `write_table` vs DuckDB `COPY (FROM read_json(...)) TO parquet`; and the screen alone
(`nesting.check_json_lines`: each line's `[` and `{` counted, so Arrow's JSON reader never sees a
value nested past 64 levels). Medians of --repeat runs, the methods taking turns.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq

from bench.ingest_query import interleaved, make_csv, print_ingest
from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.data.ingest import ingest_file, nesting


def make_jsonl(work: Path, rows: int) -> Path:
    """The ingest bench's orders as JSON lines, each with a list and a nested object added."""
    csv = work / "orders.csv"
    make_csv(csv, rows)
    path = work / "orders.jsonl"
    con = duckdb.connect()
    try:
        con.execute(
            f"COPY (SELECT *, [qty, qty + 1] AS tags, {{'region': region, 'day': CAST(day AS VARCHAR)}} AS origin "
            f"FROM read_csv('{csv}')) TO '{path}' (FORMAT json)"
        )
    finally:
        con.close()
    csv.unlink()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-jsonl-"))
    source = make_jsonl(work, args.rows)
    size_mb = source.stat().st_size / 1e6
    lh = Lakehouse(Settings(home=work / "home"))

    def lakehouse_ingest(i: int):
        return ingest_file(lh.tables, source, f"orders_{i}")

    def pyarrow_copy(i: int):
        pq.write_table(pajson.read_json(source), work / f"arrow_{i}.parquet")

    def duckdb_copy(i: int):
        con = duckdb.connect()
        try:
            con.execute(f"COPY (FROM read_json('{source}')) TO '{work / f'duck_{i}.parquet'}' (FORMAT parquet)")
        finally:
            con.close()

    def screen(_: int):
        nesting.check_json_lines(str(source), memoryview(pa.memory_map(str(source)).read_buffer()))

    times, _ = interleaved(
        {
            "Lakehouse ingest_file": lakehouse_ingest,
            "raw pyarrow read_json + write_table": pyarrow_copy,
            "raw DuckDB COPY … TO parquet": duckdb_copy,
            "the nesting screen alone": screen,
        },
        args.repeat,
    )
    assert lh.tables.describe("orders_0")["rows"] == args.rows
    lh.close()
    shutil.rmtree(work, ignore_errors=True)

    raw = min(times["raw pyarrow read_json + write_table"], times["raw DuckDB COPY … TO parquet"])
    title = f"JSON-lines ingest: {args.rows:,} rows, {size_mb:.1f} MB (median of {args.repeat})"
    print_ingest(title, times, args.rows, "time vs fastest raw", lambda secs: secs / raw)
    share = times["the nesting screen alone"] / times["Lakehouse ingest_file"]
    print(f"\nthe screen is {share:.0%} of the Lakehouse ingest's time")


if __name__ == "__main__":
    main()
