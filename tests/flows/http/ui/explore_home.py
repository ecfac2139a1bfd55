"""A small LH_HOME for the Explore and SQL console tests, built once per test module: table `cities`
with two snapshots (60 rows, then 5 more) and, when asked, corpus `notes` (wordllama, fast to embed)
with two generations (a build, then a rebuild: generation 2 is live) and an internal `_lh_` table."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from lakehouse.config import Settings
from lakehouse.core import Lakehouse

FIRST_ROWS = 60
MORE_ROWS = 5
STATES = ("Ohio", "Texas", "Utah", "Maine")
NOTES = (
    "how to reset a forgotten password",
    "invoice totals do not match the order",
    "the delivery arrived two days late",
    "export the monthly report as a spreadsheet",
    "change the billing address on an account",
    "the mobile app crashes when uploading photos",
)


def cities(start: int, stop: int) -> pa.Table:
    ids = list(range(start, stop))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "name": [f"city-{i:03d}" for i in ids],
            "state": [STATES[i % len(STATES)] for i in ids],
            "population": pa.array([1000 * i for i in ids], pa.int64()),
        }
    )


def build_home(root: Path, *, corpus: bool) -> dict[str, int]:
    """Fill `root/home` (what `api_process(root)` serves); returns the snapshot ids of `cities`."""
    lh = Lakehouse(Settings(home=root / "home", embed_model="wordllama", hnsw_threads=1))
    try:
        first = lh.tables.write_arrow("cities", cities(1, FIRST_ROWS + 1))
        second = lh.tables.write_arrow("cities", cities(FIRST_ROWS + 1, FIRST_ROWS + MORE_ROWS + 1))
        if corpus:
            # a lakehouse-owned table, as the shared op log writes (`lakehouse._lh_ops`)
            lh.tables.write_arrow("_lh_console_test", pa.table({"seq": pa.array([1], pa.int64())}))
            notes = pa.table({"id": [f"n{i}" for i in range(len(NOTES))], "text": list(NOTES)})
            lh.tables.write_arrow("notes", notes)
            lh.corpora.build("notes", "notes", ["text"], "id")
            lh.corpora.rebuild("notes")
    finally:
        lh.close()
    return {"first": first, "second": second}


def live_generation(root: Path) -> int:
    """The live generation of corpus `notes`, read through the library (not the console)."""
    lh = Lakehouse(Settings(home=root / "home"))
    try:
        (live,) = [g["generation"] for g in lh.corpora.generations("notes") if g["live"]]
        return live
    finally:
        lh.close()
