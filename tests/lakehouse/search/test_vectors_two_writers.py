"""Two handles on one home (two processes: the CLI beside `lakehouse serve` or the API) writing
the same corpus take turns: every generation gets its own number, no write overwrites another's
index or manifest, and rows added by both are all searchable. Each handle has its own in-process
lock, so only the lock they share across processes keeps them apart.

Proof without timing thresholds: each operation, once inside, records its interval; the intervals
of the two handles never overlap, and the generations count exactly the writes made."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa

from lakehouse import Lakehouse
from tests.fixtures.vectors import jobs_table


def _job(job_id: str, title: str) -> pa.Table:
    row = {"job_id": job_id, "title": title, "description": f"{title} wanted.", "city": "Elgin", "state": "IL"}
    return pa.table({k: [v] for k, v in {**row, "shift": "day"}.items()})


def test_two_handles_take_turns_and_every_generation_is_kept(settings, minilm):
    first, second = Lakehouse(settings), Lakehouse(settings)
    try:
        first.tables.write_arrow("jobs", jobs_table(), mode="overwrite")
        first.corpora.build("shared", "jobs", ["title"], "job_id")
        writers = [first, second, first, second, first, second]
        with ThreadPoolExecutor(len(writers)) as pool:
            list(pool.map(lambda lh: lh.corpora.rebuild("shared"), writers))
        runs = sorted(
            (a.started_ns, a.ended_ns) for lh in (first, second) for a in lh.corpora.activity if a.op == "rebuild"
        )
        assert len(runs) == len(writers)
        assert all(prev_end <= start for (_, prev_end), (start, _) in zip(runs, runs[1:], strict=False))
        last = 1 + len(writers)  # the build, then one generation per rebuild: none lost to a shared number
        assert first.corpora.show("shared")["version"] == second.corpora.show("shared")["version"] == last
        kept = first.settings.corpus_generations_kept
        assert [g["generation"] for g in first.corpora.generations("shared")] == list(range(last, last - kept, -1))
    finally:
        first.close()
        second.close()


def test_rows_added_through_both_handles_are_all_searchable(settings, minilm):
    first, second = Lakehouse(settings), Lakehouse(settings)
    try:
        first.tables.write_arrow("jobs", jobs_table(), mode="overwrite")
        first.corpora.build("shared", "jobs", ["title"], "job_id")
        titles = {"J-901": "Locksmith", "J-902": "Beekeeper", "J-903": "Glassblower", "J-904": "Farrier"}
        for job_id, title in titles.items():
            first.tables.write_arrow("jobs", _job(job_id, title), mode="append")
        with ThreadPoolExecutor(4) as pool:
            added = list(pool.map(lambda lh: lh.corpora.add("shared"), [first, second, first, second]))
        assert sum(a.added for a in added) == len(titles)  # each new row embedded once, by one writer
        vectors = first.corpora.embedder().embed(list(titles.values()))
        for lh in (first, second):
            corpus = lh.corpora.get("shared")
            assert corpus.index.count == lh.corpora.show("shared")["count"] == 16 + len(titles)
            assert [hits[0].id for hits in corpus.search(vectors, 1)] == list(titles)
        ids = first.tables.read_arrow("corpus_shared", columns=["id"]).column("id").to_pylist()
        assert sorted(ids) == sorted(set(ids)) and len(ids) == 16 + len(titles)  # no row stored twice
    finally:
        first.close()
        second.close()
