"""Staged generations never made live (adapters the gate refused) no longer count toward
`corpus_generations_kept`: nightly refused adapts pruned every generation that had been live within
a week. They are kept only while among the newest, and go first."""

from __future__ import annotations

import numpy as np

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from tests.fixtures.vectors import HEALTH_MODEL, health_table


def kept(lh: Lakehouse) -> list[int]:
    return [g["generation"] for g in lh.corpora.generations("health")]


def test_refused_adapters_do_not_push_live_generations_out(tmp_path):
    lh = Lakehouse(Settings(home=tmp_path / "home", embed_model=HEALTH_MODEL, hnsw_threads=1))
    lh.tables.write_arrow("health", health_table().slice(0, 10), mode="overwrite")
    lh.corpora.build("health", "health", ["Title", "Description"], "O*NET-SOC Code")  # 1
    lh.corpora.delete("health", ["29-1011.00"])  # 2
    dims = lh.corpora.manifest("health").dims
    for _ in range(4):  # 3-6: staged, never promoted
        lh.corpora.stage("health", adapter=np.eye(dims, dtype=np.float32))
    lh.corpora.delete("health", ["29-1021.00"])  # 7
    assert kept(lh) == [7, 6, 5, 4, 3, 2, 1]  # the build (1) was pruned: 5 kept counted the staged ones
    for _ in range(3):  # 8-10
        lh.corpora.stage("health", adapter=np.eye(dims, dtype=np.float32))
    assert kept(lh) == [10, 9, 8, 7, 6, 2, 1]  # staged ones only while among the newest 5
    assert lh.corpora.promote("health", 1)["live"] == 1  # the build can still be made live
    lh.close()
