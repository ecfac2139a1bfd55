"""`lakehouse rate` takes exactly one of --good ID / --bad ID (and a QUERY and --corpus, or --file
alone): anything else is a clear error, exit 1, before anything is loaded or stored."""

from __future__ import annotations

import pytest

from tests.fixtures import ratings
from tests.fixtures.cli import invoke_cli
from tests.fixtures.ratings import NURSE, logs

rating_home = ratings.rating_home  # the fixture: a writable copy of the health home


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--good", NURSE, "--bad", NURSE], "error: give exactly one of --good ID or --bad ID (got both)"),
        ([], "error: give exactly one of --good ID or --bad ID (got neither)"),
    ],
)
def test_exactly_one_verdict(rating_home, args, message):
    result = invoke_cli("rate", "ICU nurse", "--corpus", "health", *args, code=1)
    assert message in result.stderr
    assert "loading the embedding model" not in result.stderr  # refused before any work
    assert logs(rating_home) == (b"", b"")


def test_query_and_corpus_are_needed_and_a_file_takes_neither(rating_home, tmp_path):
    assert "error: give --corpus" in invoke_cli("rate", "ICU nurse", "--good", NURSE, code=1).stderr
    assert "error: give the QUERY" in invoke_cli("rate", "--corpus", "health", "--good", NURSE, code=1).stderr
    placements = tmp_path / "p.csv"
    placements.write_text(f"query,corpus,id,verdict\nICU nurse,health,{NURSE},good\n")
    result = invoke_cli("rate", "--file", str(placements), "--good", NURSE, code=1)
    assert "error: --file takes the ratings from the file: drop --good" in result.stderr
    assert logs(rating_home) == (b"", b"")
