"""Hot swap under load: searches running while generations are promoted and rolled back never
fail, and each one answers wholly from one generation."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from tests.fixtures.vectors import HEALTH_MODEL, health_table

QUERIES = [
    "registered nurse in an intensive care unit",
    "x-ray and radiology technician",
    "pharmacist dispensing medication",
    "dental hygienist cleaning teeth",
    "paramedic on an ambulance",
    "surgeon performing operations",
]
SEARCHERS = 4
FLIPS = 20


@pytest.fixture
def lh(tmp_path):
    lh = Lakehouse(Settings(home=tmp_path / "lh", embed_model=HEALTH_MODEL, hnsw_threads=1))
    lh.tables.write_arrow("health", health_table(), mode="overwrite")
    lh.corpora.build("health", "health", ["Title", "Description"], "O*NET-SOC Code", ["group"])
    yield lh
    lh.close()


def answer(result) -> str:
    return json.dumps([hit.as_dict() for hit in result.hits])


def expected_answers(lh, vectors) -> dict[str, str]:
    results = lh.matrix.search_many(QUERIES, ["health"], use_playbooks=False, query_vectors=vectors)
    return {q: answer(r) for q, r in zip(QUERIES, results, strict=True)}


@pytest.mark.parametrize("second", ["adapter", "rows"])
def test_searches_during_promote_and_rollback_each_see_one_generation(lh, second):
    model = lh.corpora.manifest("health").model
    vectors = {model: lh.corpora.embedder(model).embed(QUERIES)}
    first = 1
    if second == "adapter":
        # a permutation of the dimensions: another generation over the same index (the cheap swap)
        dims = lh.corpora.manifest("health").dims
        perm = np.eye(dims, dtype=np.float32)[np.random.default_rng(5).permutation(dims)]
        other = lh.corpora.stage("health", adapter=perm, adapter_meta={"kind": "permutation"})
    else:
        # different rows: every nurse deleted, so another index file and row set
        table = health_table()
        codes, titles = table.column("O*NET-SOC Code").to_pylist(), table.column("Title").to_pylist()
        nurses = [code for code, title in zip(codes, titles, strict=True) if "Nurs" in title]
        lh.corpora.delete("health", nurses)
        other = 2
        lh.corpora.rollback("health")
    expected = {first: expected_answers(lh, vectors)}
    lh.corpora.promote("health", other)
    expected[other] = expected_answers(lh, vectors)
    lh.corpora.rollback("health")
    assert expected[first] != expected[other]

    errors: list[BaseException] = []
    seen: list[tuple[int, str, str]] = []  # (generation, query, answer)
    done = threading.Event()

    def searcher(offset: int) -> None:
        count = 0
        try:
            while not done.is_set() or count < 50:
                query = QUERIES[(offset + count) % len(QUERIES)]
                vector = {model: vectors[model][QUERIES.index(query)][None, :]}
                result = lh.matrix.search(query, ["health"], use_playbooks=False, query_vectors=vector)
                seen.append((result.generations["health"], query, answer(result)))
                count += 1
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=searcher, args=(i,)) for i in range(SEARCHERS)]
    for thread in threads:
        thread.start()
    for flip in range(FLIPS):
        if flip % 2 == 0:
            lh.corpora.promote("health", other)
        else:
            lh.corpora.rollback("health")
        done.wait(0.01)  # let some searches run on this generation
    done.set()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(seen) >= SEARCHERS * 50
    for generation, query, got in seen:
        assert got == expected[generation][query], (generation, query)
    assert {generation for generation, _, _ in seen} == {first, other}
    assert lh.corpora.get("health").generation == first  # an even number of flips
