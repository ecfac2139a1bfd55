"""Tables: names, list/describe/drop, one snapshot per write, schema evolution and conflicts, and an
`s3://` warehouse on moto's S3 server."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.data.catalog_open import catalog_properties
from lakehouse.data.table_names import caller_writable
from lakehouse.data.tables import SchemaConflict, TableError, TableNotFound, Tables
from tests.fixtures.tables import table_state


@pytest.fixture(scope="module")
def tables(module_lakehouse) -> Tables:
    return module_lakehouse.tables


@pytest.mark.parametrize("bad", ["a.b.c", "has space", "1abc", "", "ns.", "x-y"])
def test_bad_names_are_refused(tables, bad):
    with pytest.raises(TableError, match=f"bad table name {bad!r}: use `name` or `namespace.name`"):
        tables.exists(bad)


def test_a_new_name_longer_than_128_characters_is_refused_and_an_old_one_still_reads(tables):
    """Ingesting one was a raw OSError (ENAMETOOLONG, HTTP 500) on a local warehouse and accepted on
    S3; a table made before the cap (129-255 characters) must still list, show and read."""
    message = r"^bad table name 'taaa+\.\.\.': a namespace or a name has at most 128 characters, this one 301$"
    with pytest.raises(TableError, match=message):
        caller_writable("t" + "a" * 300)
    old = "t" + "b" * 199  # as ingested before the cap
    tables.write_arrow(old, pa.table({"id": [1]}))
    assert f"lakehouse.{old}" in tables.list() and tables.describe(old)["name"].endswith(old)
    assert tables.read_arrow(old).num_rows == 1


@pytest.mark.parametrize(
    "name", ["temp.x", "memory.x", "system.x", "information_schema.tables", "PG_CATALOG.t", "main.x"]
)
def test_namespaces_the_sql_engine_keeps_are_refused_before_anything_is_written(tables, name):
    """Ingested there, every later query of the table was a 500 (DuckDB: ambiguous or system catalog)."""
    with pytest.raises(TableError, match=rf"^bad table name {name!r}: the namespace '\w+' is the SQL engine's own"):
        tables.write_arrow(name, pa.table({"id": [1]}))
    assert not any(t.lower().startswith(name.split(".")[0].lower() + ".") for t in tables.list())


def test_write_list_describe_read(tables):
    snap = tables.write_arrow("animals", pa.table({"id": [1, 2], "name": ["cat", "dog"]}))
    assert "lakehouse.animals" in tables.list()
    assert tables.exists("animals") and tables.exists("lakehouse.animals")
    info = tables.describe("animals")
    assert info["current_snapshot_id"] == snap and info["rows"] == 2
    assert [(f["name"], f["type"]) for f in info["schema"]] == [("id", "long"), ("name", "string")]
    assert info["snapshots"][0]["operation"] == "append"
    assert tables.read_arrow("animals", columns=["name"], row_filter="id > 1").to_pylist() == [{"name": "dog"}]
    with pytest.raises(TableError, match=r"has no column\(s\) \['nope'\]"):
        tables.read_arrow("animals", columns=["nope"])
    with pytest.raises(TableError, match="has no snapshot 42 "):
        tables.read_arrow("animals", snapshot_id=42)


def test_unknown_table_suggests_close_names(tables):
    tables.write_arrow("occupations", pa.table({"id": [1]}))
    with pytest.raises(TableNotFound, match=r"table 'ocupations' not found; did you mean 'lakehouse.occupations'\?"):
        tables.describe("ocupations")
    with pytest.raises(TableNotFound):
        tables.drop("ocupations")


def test_overwrite_is_one_snapshot_and_old_data_stays_readable(tables):
    first = tables.write_arrow("ow", pa.table({"id": [1, 2, 3]}))
    second = tables.write_arrow("ow", pa.table({"id": [9]}), mode="overwrite")
    snaps = tables.describe("ow")["snapshots"]
    assert [s["operation"] for s in snaps] == ["append", "overwrite"]
    assert snaps[1]["parent_id"] == first and snaps[1]["snapshot_id"] == second
    assert tables.read_arrow("ow").column("id").to_pylist() == [9]
    assert sorted(tables.read_arrow("ow", snapshot_id=first).column("id").to_pylist()) == [1, 2, 3]
    with pytest.raises(TableError, match="write mode must be 'append' or 'overwrite', got 'upsert'"):
        tables.write_arrow("ow", pa.table({"id": [1]}), mode="upsert")


def test_new_columns_evolve_the_schema_in_the_same_commit(tables):
    tables.write_arrow("evo", pa.table({"id": [1]}))
    tables.write_arrow("evo", pa.table({"id": pa.array([2], pa.int32()), "tag": ["b"]}))
    info = tables.describe("evo")
    assert [f["name"] for f in info["schema"]] == ["id", "tag"] and len(info["snapshots"]) == 2
    assert sorted(tables.read_arrow("evo").to_pylist(), key=lambda r: r["id"]) == [
        {"id": 1, "tag": None},
        {"id": 2, "tag": "b"},
    ]


def test_schema_conflict_names_column_and_both_types_and_changes_nothing(module_lakehouse, tables):
    tables.write_arrow("typed", pa.table({"id": [1], "score": [1.5]}))
    before = table_state(module_lakehouse, "typed")
    with pytest.raises(SchemaConflict, match="column 'score': the table has type double, the incoming data has string"):
        tables.write_arrow("typed", pa.table({"id": [2], "score": ["high"]}))
    with pytest.raises(SchemaConflict, match="column 'id': the table has type long, the incoming data has double"):
        tables.write_arrow("typed", pa.table({"id": [2.5], "score": [1.0]}))
    with pytest.raises(SchemaConflict, match="column name 'id' appears more than once"):
        tables.write_arrow("typed", pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["id", "id"]))
    assert table_state(module_lakehouse, "typed") == before


def test_drop_removes_table_and_files(module_lakehouse, tables):
    tables.write_arrow("gone", pa.table({"id": [1]}))
    location = tables.describe("gone")["location"].removeprefix("file://")
    tables.drop("gone")
    assert not tables.exists("gone")
    from pathlib import Path

    assert not any(p.is_file() for p in Path(location).rglob("*"))


def test_s3_warehouse_on_moto(moto_s3, tmp_path):

    bucket = moto_s3.new_bucket()
    settings = moto_s3.settings(tmp_path / "home", warehouse_url=f"s3://{bucket}/warehouse")
    lh = Lakehouse(settings)
    try:
        snap = lh.tables.write_arrow("remote", pa.table({"id": [1, 2, 3], "city": ["a", "b", "c"]}))
        assert lh.tables.describe("remote")["location"].startswith(f"s3://{bucket}/warehouse/")
        assert lh.sql.query("SELECT sum(id), max(city) FROM remote").rows == [[6, "c"]]
        assert lh.sql.query("SELECT count(*) FROM remote", snapshot=snap).rows == [[3]]
        con = lh.sql.connect(["remote"])  # s3: a pyarrow dataset, still with pushdown
        try:
            plan = con.execute("EXPLAIN SELECT city FROM remote WHERE id > 1").fetchall()[0][1]
        finally:
            con.close()
        assert "ARROW_SCAN" in plan and "Filters:" in plan and "Projections: city" in plan
    finally:
        lh.close()


def test_settings_default_warehouse_is_under_home(tmp_path):
    settings = Settings(home=tmp_path)
    assert settings.warehouse == str((tmp_path / "warehouse").resolve())  # a plain path: pyiceberg never unquotes a URI
    assert catalog_properties(settings)["uri"].startswith("sqlite:///")
