"""The Iceberg SQL catalog on a real PostgreSQL (`postgresql+psycopg://`) with the warehouse on S3
(moto): what several machines share. Two lakehouses with their own LH_HOME see one set of tables,
racing writers keep every row, and a catalog URL that cannot work names the setting."""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.data.errors import CatalogSettingError, CatalogUnavailable
from lakehouse.data.tables import PAUSE_BEFORE_COMMIT_ENV
from lakehouse.errors import ErrorKind
from tests.fixtures.machines import shared_lakehouse


@pytest.fixture(scope="module")
def shared(postgres, moto_s3, tmp_path_factory):
    """A settings factory: a fresh LH_HOME ("machine") on one PostgreSQL catalog + S3 warehouse."""
    return shared_lakehouse(postgres, moto_s3, tmp_path_factory)


def test_two_homes_share_tables_through_the_postgres_catalog(shared):
    left, right = Lakehouse(shared("left")), Lakehouse(shared("right"))
    try:
        snap = left.tables.write_arrow("people", pa.table({"id": [1, 2], "city": ["Chicago", "Peoria"]}))
        assert right.tables.list() == ["lakehouse.people"]
        assert right.tables.describe("people")["location"].startswith("s3://")
        right.tables.write_arrow("people", pa.table({"id": [3], "city": ["Joliet"]}))
        assert left.sql.query("SELECT count(*), max(city) FROM people").rows == [[3, "Peoria"]]
        assert left.sql.query("SELECT count(*) FROM people", snapshot=snap).rows == [[2]]
    finally:
        left.close()
        right.close()


def test_racing_writers_from_two_homes_keep_every_row(shared):
    homes = [Lakehouse(shared(f"racer{i}")) for i in range(2)]
    homes[0].tables.write_arrow("racing", pa.table({"id": [0], "side": [0]}))
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def write(side: int, lh: Lakehouse) -> None:
        for round_ in range(3):
            barrier.wait(timeout=60)
            try:
                lh.tables.write_arrow("racing", pa.table({"id": [side * 100 + round_], "side": [side]}))
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

    # Two threads per home: each home's catalog connection pool sees its own races as well.
    threads = [threading.Thread(target=write, args=(i, homes[i % 2])) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        ids = sorted(homes[1].tables.read_arrow("racing").column("id").to_pylist())
        assert ids == sorted([0] + [side * 100 + r for side in range(4) for r in range(3)])
        assert len(homes[0].tables.describe("racing")["snapshots"]) == 13
    finally:
        for lh in homes:
            lh.close()


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("not a url", r"setting catalog_url \(LH_CATALOG_URL\) is not a SQLAlchemy URL; use one such as .*postgresql"),
        (
            "postgres://u:hunter22@127.0.0.1/c",
            r"catalog_url \(LH_CATALOG_URL\) = 'postgres://u:\*\*\*@.*dialects:postgres",
        ),
        ("postgresql+psycopg2://u@127.0.0.1/c", r"catalog_url .*No module named 'psycopg2'.*postgresql\+psycopg://"),
    ],
)
def test_a_catalog_url_that_cannot_work_names_the_setting(tmp_path, url, match):
    lh = Lakehouse(Settings(home=tmp_path, catalog_url=url))
    with pytest.raises(CatalogSettingError, match=match) as caught:
        lh.tables.write_arrow("t", pa.table({"n": [1]}))
    assert caught.value.kind is ErrorKind.USER and "hunter22" not in str(caught.value)


def test_an_unreachable_catalog_is_unavailable_not_a_lost_race(postgres, tmp_path):
    url = postgres.url("catalog").replace(f":{postgres.port}/", ":1/")  # nothing listens on port 1
    lh = Lakehouse(Settings(home=tmp_path, catalog_url=url))
    with pytest.raises(
        CatalogUnavailable, match=r"catalog database postgresql\+psycopg://lakehouse:\*\*\*@127.0.0.1:1/"
    ):
        lh.tables.write_arrow("t", pa.table({"n": [1]}))
    with pytest.raises(CatalogUnavailable, match=r"\(setting catalog_url \(LH_CATALOG_URL\)\) cannot be reached"):
        lh.tables.list()


def test_a_wrong_password_is_refused_without_showing_it(postgres, tmp_path):
    url = postgres.url("catalog").replace(postgres.password, "wrong-secret-77")
    lh = Lakehouse(Settings(home=tmp_path, catalog_url=url))
    with pytest.raises(CatalogUnavailable, match="password authentication failed") as caught:
        lh.tables.list()
    assert "wrong-secret-77" not in str(caught.value)


def test_a_catalog_server_gone_after_open_is_unavailable_and_its_return_is_served(postgres, tmp_path, monkeypatch):
    """The database going away after the catalog opened (a restart, a network cut) failed every
    call with SQLAlchemy's OperationalError, a 500 over HTTP; it is CatalogUnavailable (503) as at
    open, a write cut off by it names the table unchanged, and the next call after the server is
    back works on its own (the pool's pre-ping connects again)."""
    from tests.fixtures.tcp_proxy import TcpProxy

    proxy = TcpProxy(postgres.port).start()
    database = postgres.create_database()
    url = postgres.url(database).replace(f":{postgres.port}/", f":{proxy.port}/")
    lh = Lakehouse(Settings(home=tmp_path, catalog_url=url))
    try:
        lh.tables.write_arrow("t", pa.table({"n": [1, 2]}))
        proxy.cut()
        for call in (lh.tables.list, lambda: lh.tables.read_arrow("t"), lambda: lh.sql.query("SELECT * FROM t")):
            with pytest.raises(CatalogUnavailable, match=rf"catalog database .*:{proxy.port}/.* cannot be reached"):
                call()
        with pytest.raises(CatalogUnavailable, match="cannot be reached"):
            lh.tables.write_arrow("t", pa.table({"n": [3]}))
        proxy.start()
        assert sorted(lh.tables.read_arrow("t").column("n").to_pylist()) == [1, 2]
        assert lh.sql.query("SELECT count(*) FROM t").rows == [[2]]

        # cut between the data files and the commit: the caller hears the outcome is not known
        monkeypatch.setenv(PAUSE_BEFORE_COMMIT_ENV, "1")
        threading.Timer(0.5, proxy.cut).start()
        with pytest.raises(CatalogUnavailable, match=r"whether this write to table 'lakehouse\.t' landed is not known"):
            lh.tables.write_arrow("t", pa.table({"n": [3]}))
        monkeypatch.delenv(PAUSE_BEFORE_COMMIT_ENV)
        proxy.start()
        assert sorted(lh.tables.read_arrow("t").column("n").to_pylist()) == [1, 2]
    finally:
        lh.close()
        proxy.cut()


def test_shared_rows_read_before_serve_a_reader_through_a_catalog_blip(postgres, tmp_path):
    """Every search with playbooks asks the catalog whether the shared table moved: a catalog
    blip failed every search of an API whose corpus and playbooks were in memory."""
    from lakehouse.data.shared_log import SharedLog
    from tests.fixtures.tcp_proxy import TcpProxy

    proxy = TcpProxy(postgres.port).start()
    url = postgres.url(postgres.create_database()).replace(f":{postgres.port}/", f":{proxy.port}/")
    settings = Settings(home=tmp_path, catalog_url=url, shared_state_refresh_s=0)
    reader = SharedLog(settings, "ops")
    try:
        reader.log.append({"op_id": "o1", "ts_start": "2026-01-01T00:00:00+00:00"})
        reader.flush()
        assert [r.id for r in reader.rows()] == ["o1"]
        proxy.cut()
        assert [r.id for r in reader.rows()] == ["o1"]  # what it read before
        with pytest.raises(CatalogUnavailable, match="cannot be reached"):
            SharedLog(settings, "ops").rows()  # a reader that never read has nothing to serve
    finally:
        reader.tables.close()
        proxy.cut()
