"""What running SQL in a capped worker process costs (`sql_isolation`, the servers' default), against
the same queries in-process, in one run.

    .venv/bin/python -m bench.sql_workers [--repeat 200]

Data: the O*NET occupations (1,016 rows) ingested into a temporary LH_HOME. Queries: a point
lookup, an aggregate over the table, and a 1,000-row answer (pickled back over the worker's pipe).
Also the first query's time (the worker starting: Python, DuckDB, pyarrow, the catalog) and the
worker's memory at rest. Medians and 95th percentiles of --repeat runs, one caller.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.data.ingest import ingest_file
from lakehouse.data.sql import workers

ONET = Path(__file__).resolve().parents[1] / "examples" / "data" / "occupations.tsv"
QUERIES = {
    "point lookup": "SELECT Title FROM onet WHERE \"O*NET-SOC Code\" = '15-1252.00'",
    "aggregate": 'SELECT left("O*NET-SOC Code", 2) AS major, count(*) FROM onet GROUP BY 1 ORDER BY 1',
    "1,000 rows": 'SELECT "O*NET-SOC Code", Title FROM onet LIMIT 1000',
}


def _times(lh: Lakehouse, sql: str, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        lh.sql.query(sql)
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Settings(home=Path(tmp))
        ingest_file(Lakehouse(base).tables, ONET, "onet")
        inline = Lakehouse(base.model_copy(update={"sql_isolation": "off"}))
        isolated = Lakehouse(base.model_copy(update={"sql_isolation": "process"}))
        start = time.perf_counter()
        isolated.sql.query("SELECT 1")
        first = time.perf_counter() - start
        worker = next(iter(workers.workers_for(isolated.settings)._idle))
        status = Path(f"/proc/{worker._process.pid}/status").read_text()
        rss = int(status.split("VmRSS:")[1].split()[0]) / 1024
        print(f"first query (a worker starting): {first:.2f} s; the worker at rest: {rss:.0f} MB RSS\n")
        print("| query | in-process p50 ms | p95 | worker p50 ms | p95 | worker / in-process (p50) |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, sql in QUERIES.items():
            _times(inline, sql, 5), _times(isolated, sql, 5)  # warm both (views, footers)
            a, b = _times(inline, sql, args.repeat), _times(isolated, sql, args.repeat)
            pa, pb = statistics.median(a), statistics.median(b)
            qa, qb = statistics.quantiles(a, n=20)[-1], statistics.quantiles(b, n=20)[-1]
            print(f"| {name} | {pa:.2f} | {qa:.2f} | {pb:.2f} | {qb:.2f} | {pb / pa:.2f}x |")
        workers.close_all()


if __name__ == "__main__":
    main()
