"""An object column cannot gain a field once its table exists: the refusal said only that the two
struct types differ; it now names the new fields, says fields cannot be added inside a column, and
what to do instead. The table is left as it was."""

from __future__ import annotations

import pytest

from lakehouse.data.ingest import IngestError, ingest_file
from tests.fixtures.tables import table_state


@pytest.fixture(scope="module")
def lh(module_lakehouse):
    return module_lakehouse


@pytest.mark.parametrize(
    ("first", "then", "added"),
    [
        ('{"s": {"b": 1}}\n', '{"s": {"b": 2, "d": "x"}}\n', "'d'"),
        ('{"s": {"b": {"c": 1}}}\n', '{"s": {"b": {"c": 2, "e": 3, "f": 4}}}\n', "'b.e', 'b.f'"),
        ('{"s": [{"b": 1}]}\n', '{"s": [{"b": 2, "d": "x"}]}\n', "'d'"),
    ],
    ids=["field", "deeper", "in-a-list"],
)
def test_a_field_added_inside_an_object_column_is_refused_naming_it_and_the_way_out(lh, tmp_path, first, then, added):
    table = f"objects_{len(then)}"
    (tmp_path / "first.jsonl").write_text(first)
    (tmp_path / "then.jsonl").write_text(then)
    ingest_file(lh.tables, tmp_path / "first.jsonl", table)
    before = table_state(lh, table)
    with pytest.raises(
        IngestError,
        match=rf"then.jsonl, column 's': the objects have field\(s\) {added} that the table's .* lacks, and fields "
        r"cannot be added inside an existing column \(only new columns can\): leave them out, give them a column "
        r"of their own, or ingest into a new table",
    ):
        ingest_file(lh.tables, tmp_path / "then.jsonl", table)
    assert table_state(lh, table) == before
