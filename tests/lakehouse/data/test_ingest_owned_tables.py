"""Ingest never writes into the lakehouse's own tables: the shared state's logs (`_lh_*`: a file
ingested there took the table over and every later flush failed) and a corpus's rows (`corpus_*`:
an upsert there cleared rows' vectors). The refusal names the table and its owner; nothing changes."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest

from lakehouse.data.errors import TableError
from lakehouse.data.ingest import ingest_file
from tests.fixtures.tables import INGEST_CASES, table_state


@pytest.fixture
def owned(lakehouse):
    """Tables as their owners write them: a shared-log table and a corpus's rows."""
    lakehouse.tables.write_arrow("lakehouse._lh_ops", pa.table({"id": ["op-1"], "mode": ["echo"]}))
    rows = pa.table({"id": ["53-3033.00"], "text": ["Light Truck Drivers"], "vector": [[0.1, 0.2]]})
    lakehouse.tables.write_arrow("corpus_occupations", rows)
    return lakehouse


@pytest.mark.parametrize(
    ("table", "owner"),
    [
        ("_lh_ops", "the lakehouse's shared state"),
        ("lakehouse._lh_ops", "the lakehouse's shared state"),
        ("lakehouse._LH_ops", "the lakehouse's shared state"),
        ("corpus_occupations", "a corpus"),
    ],
)
def test_ingest_into_a_lakehouse_table_is_refused_and_changes_nothing(owned, table, owner):
    before = {name: table_state(owned, name) for name in ("lakehouse._lh_ops", "corpus_occupations")}
    with pytest.raises(TableError, match=rf"^table 'lakehouse\.{table.split('.')[-1]}' belongs to {owner}"):
        ingest_file(owned.tables, INGEST_CASES / "base.csv", table, key="id")
    assert {name: table_state(owned, name) for name in before} == before


def test_the_same_names_in_another_namespace_are_the_user_own(lakehouse):
    done = ingest_file(lakehouse.tables, INGEST_CASES / "base.csv", "staging.corpus_occupations")
    assert (done.table, done.status) == ("staging.corpus_occupations", "created")


@pytest.mark.parametrize("table", ["LAKEHOUSE._lh_ops", "Lakehouse.corpus_occupations", "lakeHouse._lh_evidence"])
def test_the_lakehouse_namespace_spelled_in_another_case_is_refused_too(owned, table):
    """SQL reads `LAKEHOUSE._lh_ops` as `lakehouse._lh_ops`: a table spelled so stood in for the ops
    log (and `lakehouse flush` failed on it from then on)."""
    before = {name: table_state(owned, name) for name in ("lakehouse._lh_ops", "corpus_occupations")}
    with pytest.raises(TableError, match=rf"^table '{re.escape(table)}' belongs to "):
        ingest_file(owned.tables, INGEST_CASES / "base.csv", table)
    assert {name: table_state(owned, name) for name in before} == before
    assert not any(name.split(".")[0] != "lakehouse" for name in owned.tables.list())
