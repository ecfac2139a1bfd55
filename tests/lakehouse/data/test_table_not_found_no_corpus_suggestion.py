"""A table name not found suggested a corpus's own table as the near miss: `corpus add` of a
corpus whose source table `schem` was dropped said "did you mean 'lakehouse.corpus_schemc'?", the
corpus itself. A corpus's table is suggested only for a name that asks for one."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.data.errors import TableNotFound


@pytest.fixture
def tables(tmp_path):
    lakehouse = Lakehouse(Settings(home=tmp_path / "home"))
    lakehouse.tables.write_arrow("corpus_schemc", pa.table({"id": ["a"]}))
    lakehouse.tables.write_arrow("schema_rows", pa.table({"id": ["a"]}))
    yield lakehouse.tables
    lakehouse.close()


def test_a_source_table_name_is_not_offered_a_corpus(tables):
    with pytest.raises(TableNotFound) as refused:
        tables.read_arrow("schem")
    assert "corpus_schemc" not in str(refused.value).split("known tables")[0]
    assert "lakehouse.corpus_schemc" not in refused.value.suggestions


def test_a_corpus_table_name_is_offered_the_corpus(tables):
    with pytest.raises(TableNotFound, match=r"did you mean 'lakehouse.corpus_schemc'"):
        tables.read_arrow("corpus_schem")
