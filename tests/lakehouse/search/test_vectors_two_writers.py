"""Two writers of the same corpus take turns: two handles on one home (the CLI beside `lakehouse
serve` or the API: only LH_HOME's lock files keep them apart), and two machines with their own
LH_HOME sharing one PostgreSQL catalog and one S3 bucket (only the catalog's lock keeps them apart).
Every generation gets its own number, no write overwrites another's index or manifest, and rows
added by both are all searchable.

Proof without timing thresholds: each operation, once inside, records its interval; the intervals
of the two writers never overlap, and the generations count exactly the writes made."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pytest

from lakehouse import Lakehouse
from tests.fixtures.machines import shared_lakehouse
from tests.fixtures.vectors import jobs_table


def _job(job_id: str, title: str) -> pa.Table:
    row = {"job_id": job_id, "title": title, "description": f"{title} wanted.", "city": "Elgin", "state": "IL"}
    return pa.table({k: [v] for k, v in {**row, "shift": "day"}.items()})


# How a writer learns its lock's session ended: at its next lock check, or too late for it (the
# session ended just after the check passed; the test makes the check pass).
LOSES_ITS_LOCK = pytest.mark.parametrize(
    "learns",
    [
        pytest.param("at its next check", id="told-by-its-check"),
        pytest.param("too late for its check", id="check-passed-just-before"),
    ],
)


def _end_lock_sessions(engine) -> None:
    """End every catalog session holding an advisory lock, as a server restart would."""
    from sqlalchemy import text

    with engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted"))


def _two_machines(request, tmp_path_factory) -> list[Lakehouse]:
    machine = shared_lakehouse(
        request.getfixturevalue("postgres"), request.getfixturevalue("moto_s3"), tmp_path_factory
    )
    return [Lakehouse(machine("left")), Lakehouse(machine("right"))]


@pytest.fixture(params=["one home", "two machines"])
def writers(request, settings, tmp_path_factory, minilm):
    pair = [Lakehouse(settings), Lakehouse(settings)]
    if request.param == "two machines":
        pair = _two_machines(request, tmp_path_factory)
    yield pair
    for lh in pair:
        lh.close()


def test_two_writers_take_turns_and_every_generation_is_kept(writers):
    first, second = writers
    first.tables.write_arrow("jobs", jobs_table(), mode="overwrite")
    first.corpora.build("shared", "jobs", ["title"], "job_id")
    order = [first, second, first, second, first, second]
    with ThreadPoolExecutor(len(order)) as pool:
        list(pool.map(lambda lh: lh.corpora.rebuild("shared"), order))
    runs = sorted((a.started_ns, a.ended_ns) for lh in writers for a in lh.corpora.activity if a.op == "rebuild")
    assert len(runs) == len(order)
    assert all(prev_end <= start for (_, prev_end), (start, _) in zip(runs, runs[1:], strict=False))
    last = 1 + len(order)  # the build, then one generation per rebuild: none lost to a shared number
    assert first.corpora.show("shared")["version"] == second.corpora.show("shared")["version"] == last
    kept = first.settings.corpus_generations_kept
    assert [g["generation"] for g in second.corpora.generations("shared")] == list(range(last, last - kept, -1))


def test_rows_added_through_both_writers_are_all_searchable(writers):
    first, second = writers
    first.tables.write_arrow("jobs", jobs_table(), mode="overwrite")
    first.corpora.build("shared", "jobs", ["title"], "job_id")
    titles = {"J-901": "Locksmith", "J-902": "Beekeeper", "J-903": "Glassblower", "J-904": "Farrier"}
    for job_id, title in titles.items():
        second.tables.write_arrow("jobs", _job(job_id, title), mode="append")
    with ThreadPoolExecutor(4) as pool:
        added = list(pool.map(lambda lh: lh.corpora.add("shared"), [first, second, first, second]))
    assert sum(a.added for a in added) == len(titles)  # each new row embedded once, by one writer
    vectors = first.corpora.embedder().embed(list(titles.values()))
    for lh in writers:
        corpus = lh.corpora.get("shared")
        assert corpus.index.count == lh.corpora.show("shared")["count"] == 16 + len(titles)
        assert [hits[0].id for hits in corpus.search(vectors, 1)] == list(titles)
    ids = first.tables.read_arrow("corpus_shared", columns=["id"]).column("id").to_pylist()
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 16 + len(titles)  # no row stored twice


@pytest.fixture
def machines(request, tmp_path_factory, minilm):
    """Two machines sharing one PostgreSQL catalog and one S3 bucket, the corpus 'shared' built on
    the jobs table, and an engine on the catalog to end their lock sessions with."""
    from sqlalchemy import create_engine

    first, second = _two_machines(request, tmp_path_factory)
    engine = create_engine(first.settings.catalog)
    try:
        first.tables.write_arrow("jobs", jobs_table(), mode="overwrite")
        first.corpora.build("shared", "jobs", ["title"], "job_id")
        yield first, second, engine
    finally:
        engine.dispose()
        first.close()
        second.close()


def _stops(learns: str, writer: Lakehouse, monkeypatch, conflict: str):
    """What stops a writer that lost its lock: its lock check, or (the check made to pass, as if
    the session ended just after it) the conflict its conditional write runs into."""
    from lakehouse.data.errors import CatalogUnavailable
    from lakehouse.search.errors import CorpusWriteConflict

    if learns == "at its next check":
        return pytest.raises(CatalogUnavailable, match="the lock on 'corpus-shared' was lost")
    monkeypatch.setattr(writer.corpora._host_locks, "check", lambda name: None)
    return pytest.raises(CorpusWriteConflict, match=conflict)


def test_a_writer_that_lost_the_machines_lock_makes_nothing_live(machines):
    """The lock's session ends mid-write (a catalog server restart, an operator): the writer stops
    before its generation is written or made live, and the other machine writes as usual."""
    first, second, engine = machines

    def end_the_lock_session(name: str, op: str, state: str) -> None:
        if op == "rebuild" and state == "locked":
            _end_lock_sessions(engine)

    first.corpora.add_listener(end_the_lock_session)
    with _stops("at its next check", first, None, ""):
        first.corpora.rebuild("shared")
    assert second.corpora.show("shared")["version"] == 1
    assert [g["generation"] for g in second.corpora.generations("shared")] == [1]
    second.corpora.rebuild("shared")
    assert first.corpora.show("shared")["version"] == 2


@LOSES_ITS_LOCK
def test_a_writer_that_lost_the_lock_mid_upload_leaves_the_next_writers_generation_alone(learns, machines, monkeypatch):
    """The lock's session ends while one machine uploads its index. The other takes the lock, picks
    the same generation number (none is named yet), adds a row and commits. The first upload lands
    after that under a key of its own, and its writer stops before naming a generation: told so by
    its lock check, or (lost just after that check) because the generation's file exists. Either
    way, what is live is the second machine's generation, its index and both new rows."""
    first, second, engine = machines
    first.tables.write_arrow("jobs", _job("J-901", "Locksmith"), mode="append")
    upload = first.corpora.store.put_file

    def upload_once_the_other_machine_committed(key, path):
        if "/index-" in key:
            _end_lock_sessions(engine)
            second.tables.write_arrow("jobs", _job("J-902", "Beekeeper"), mode="append")
            assert second.corpora.add("shared").added == 2
        return upload(key, path)

    monkeypatch.setattr(first.corpora.store, "put_file", upload_once_the_other_machine_committed)
    with _stops(learns, first, monkeypatch, "generation 2 of corpus 'shared' was named by another writer meanwhile"):
        first.corpora.add("shared")
    monkeypatch.undo()
    second.corpora.forget()  # both read the corpus back from storage
    vectors = first.corpora.embedder().embed(["Locksmith", "Beekeeper"])
    for lh in (first, second):
        corpus = lh.corpora.get("shared")
        assert corpus.manifest.generation == 2
        assert [hits[0].id for hits in corpus.search(vectors, 1)] == ["J-901", "J-902"]
    assert [g["generation"] for g in second.corpora.generations("shared")] == [2, 1]


@LOSES_ITS_LOCK
def test_a_writer_that_lost_the_lock_after_naming_its_generation_leaves_the_live_one_alone(
    learns, machines, monkeypatch
):
    """The lock's session ends just after one machine named its generation (2). The other takes
    the lock, deletes a row and makes its own generation (3) live. The first writer then finds the
    live manifest is not the one it started from and stops: generation 2 stays kept but not live,
    and the delete is not undone."""
    first, second, engine = machines
    first.tables.write_arrow("jobs", _job("J-901", "Locksmith"), mode="append")
    create = first.corpora.store.create

    def name_then_lose_the_lock(key, data):
        stat = create(key, data)
        if "/generations/" in key:
            _end_lock_sessions(engine)
            assert second.corpora.delete("shared", ["J-101"])["deleted"] == 1
        return stat

    monkeypatch.setattr(first.corpora.store, "create", name_then_lose_the_lock)
    conflict = (
        r"corpus 'shared' changed meanwhile: .* generation 2 was not made live; "
        r"`lakehouse corpus generations shared` lists the generations: run this write again"
    )
    with _stops(learns, first, monkeypatch, conflict):
        first.corpora.add("shared")
    monkeypatch.undo()
    second.corpora.forget()
    forklift = first.corpora.embedder().embed(["Forklift Operator"])
    for lh in (first, second):
        corpus = lh.corpora.get("shared")
        assert (corpus.manifest.generation, corpus.manifest.history) == (3, [1])
        assert not corpus.has("J-101") and not corpus.has("J-901")
        assert corpus.search(forklift, 1)[0][0].id != "J-101"
    kept = [(g["generation"], g["live"], g["count"]) for g in second.corpora.generations("shared")]
    assert kept == [(3, True, 15), (2, False, 17), (1, False, 16)]


def test_a_promote_that_lost_the_lock_leaves_the_live_generation_alone(machines, monkeypatch):
    """A promote reads what is live, then loses the lock (just after its check) while the other
    machine rebuilds: the promote stops instead of putting its generation over the rebuild."""
    first, second, engine = machines
    first.corpora.rebuild("shared")
    exists = first.corpora.store.exists

    def check_then_lose_the_lock(key):
        _end_lock_sessions(engine)
        second.corpora.rebuild("shared")
        return exists(key)

    monkeypatch.setattr(first.corpora.store, "exists", check_then_lose_the_lock)
    with _stops("too late for its check", first, monkeypatch, "generation 1 was not made live"):
        first.corpora.promote("shared", 1)
    monkeypatch.undo()
    assert first.corpora.show("shared")["version"] == second.corpora.show("shared")["version"] == 3
    assert second.corpora.rollback("shared")["live"] == 2  # the history the rebuild wrote is intact
