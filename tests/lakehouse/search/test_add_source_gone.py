"""`corpus add` after its source table was dropped suggested the corpus's own vector table ("table
'schem' not found; did you mean 'lakehouse.corpus_schemc'?"), and after a column was dropped it
spoke of a `--text` option that `add` does not take. Both now say what the corpus was built from."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.search.errors import CorpusError


@pytest.fixture
def lh(tmp_path):
    lakehouse = Lakehouse(Settings(home=tmp_path / "home", embed_model="wordllama", hnsw_threads=1))
    lakehouse.tables.write_arrow("schem", pa.table({"id": ["a", "b"], "text": ["nurse", "welder"]}), mode="overwrite")
    lakehouse.corpora.build("schemc", "schem", ["text"], "id")
    yield lakehouse
    lakehouse.close()


def test_add_after_the_source_table_was_dropped_says_so(lh):
    lh.tables.drop("schem")
    message = r"^corpus 'schemc': its source table 'schem' no longer exists, so there is nothing to add from; "
    with pytest.raises(CorpusError, match=message):
        lh.corpora.add("schemc")


def test_add_after_the_text_column_was_dropped_names_the_build_option(lh):
    lh.tables.drop("schem")  # ingested again with another shape
    lh.tables.write_arrow("schem", pa.table({"id": ["a"], "body": ["nurse"]}), mode="overwrite")
    message = (
        r"^corpus 'schemc' was built with --text 'text', but its source table 'schem' no longer has that column "
        r"\(columns: id, body\); `lakehouse corpus build schemc --replace`"
    )
    with pytest.raises(CorpusError, match=message):
        lh.corpora.add("schemc")
