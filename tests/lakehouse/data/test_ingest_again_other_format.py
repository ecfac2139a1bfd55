"""The same content ingested again but read another way (`--format csv` after a wrong `--format tsv`)
was reported "already ingested" and wrote nothing: the mis-read rows could not be put right. It is
refused now, saying how it was read before and what to do; read the same way it stays a no-op."""

from __future__ import annotations

import re

import pytest

from lakehouse.data.ingest import IngestError, ingest_file
from tests.fixtures.tables import table_state


def test_the_same_content_read_another_way_is_refused_and_read_the_same_way_is_a_no_op(lakehouse, tmp_path):
    path = tmp_path / "semi.txt"
    path.write_text("a;b\n1;2\n")
    first = ingest_file(lakehouse.tables, path, "s", format="tsv")
    assert lakehouse.tables.read_arrow("s").column_names == ["a;b"]
    before = table_state(lakehouse, "s")
    expected = (
        rf"^{re.escape(str(path))}: this content was ingested into 'lakehouse.s' read as tsv \(snapshot "
        rf"{first.snapshot_id}\); read as csv its rows would stand beside those: ingest it into a new table$"
    )
    with pytest.raises(IngestError, match=expected):
        ingest_file(lakehouse.tables, path, "s", format="csv")
    assert table_state(lakehouse, "s") == before
    assert ingest_file(lakehouse.tables, path, "s", format="tsv").status == "already_ingested"
