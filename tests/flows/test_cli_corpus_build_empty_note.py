"""`corpus build --where` that matches no row (a typo'd value, most often) made an empty corpus and
said only "created: +0 rows, 0 searchable", exit 0: every search of it then found nothing. A build
that leaves the corpus empty says so and how it fills; one with rows says nothing more."""

from __future__ import annotations

import pyarrow as pa

from tests.fixtures.cli import invoke_cli


def test_a_where_matching_no_row_says_the_corpus_is_empty(lakehouse, monkeypatch):
    monkeypatch.setenv("LH_EMBED_MODEL", "wordllama")  # a real model that loads in under a second
    lakehouse.tables.write_arrow("t", pa.table({"id": ["a", "b"], "text": ["nurse", "welder"]}), mode="overwrite")
    build = ["corpus", "build", "c", "--table", "t", "--text", "text", "--id-column", "id"]
    empty = invoke_cli(*build, "--where", "text = 'nures'")
    assert " ".join(empty.stderr.split()) == (
        "note: corpus c is empty: no row of table t matched --where \"text = 'nures'\"; searches find nothing "
        "until `lakehouse corpus add c` indexes rows the table gains"
    )
    full = invoke_cli(*build, "--where", "text = 'nurse'", "--replace")
    assert "1 searchable" in full.stdout and full.stderr.strip() == ""  # the progress bar leaves a line end
