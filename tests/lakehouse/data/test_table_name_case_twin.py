"""A new table whose name differs from an existing one only in case is refused: SQL identifiers
ignore case, so with both `Upper` and `upper` in the catalog `FROM upper` read one table and
`FROM UPPER` the other (the probe: two machines spelling a name two ways, the second "created")."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakehouse.data.errors import TableError
from tests.fixtures.cli import invoke_cli


def test_a_name_differing_only_in_case_is_refused_and_nothing_is_created(lakehouse):
    lakehouse.tables.write_arrow("Upper", pa.table({"who": ["a"]}))
    with pytest.raises(
        TableError,
        match=r"table 'lakehouse\.upper' would differ from the existing table 'lakehouse\.Upper' only in case, "
        r"which SQL cannot tell apart: write to 'lakehouse\.Upper'",
    ):
        lakehouse.tables.write_arrow("upper", pa.table({"who": ["b"]}))
    with pytest.raises(TableError, match="only in case"):
        lakehouse.tables.write_arrow("LAKEHOUSE.UPPER", pa.table({"who": ["b"]}))
    assert lakehouse.tables.list() == ["lakehouse.Upper"]
    lakehouse.tables.write_arrow("Upper", pa.table({"who": ["c"]}))  # the name as it is: an append
    assert lakehouse.sql.query("SELECT who FROM upper ORDER BY who").rows == [["a"], ["c"]]


def test_the_cli_ingest_says_which_table_to_write(lh_home, tmp_path):
    (tmp_path / "a.csv").write_text("id,who\n1,a\n")
    invoke_cli("ingest", str(tmp_path / "a.csv"), "--table", "Upper")
    refused = invoke_cli("ingest", str(tmp_path / "a.csv"), "--table", "upper", code=1)
    assert "write to 'lakehouse.Upper'" in " ".join(refused.stderr.split())
