"""A rating whose query no search could send: a 6 MB query from a file was stored (1.4 GB to rate
four rows) and then held `search --explain` at full CPU for minutes; a query of zero-width spaces
or control characters alone passed as not blank. Each is refused by row and field, nothing stored."""

from __future__ import annotations

import json

from tests.fixtures import ratings
from tests.fixtures.cli import invoke_cli
from tests.fixtures.ratings import NURSE, logs

rating_home = ratings.rating_home  # the fixture: a writable copy of the health home


def test_an_oversized_or_invisible_query_is_refused_and_nothing_is_stored(rating_home, tmp_path):
    rows = [
        {"query": "ICU nurse", "corpus": "health", "id": NURSE, "verdict": "good"},
        {"query": "x" * 4_097, "corpus": "health", "id": NURSE, "verdict": "good"},
        {"query": "\u200b\u200b", "corpus": "health", "id": NURSE, "verdict": "good"},
        {"query": "\x01\x02", "corpus": "health", "id": NURSE, "verdict": "good"},
    ]
    path = tmp_path / "ratings.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = logs(rating_home)
    err = " ".join(invoke_cli("rate", "--file", str(path), code=1).stderr.split())
    assert "line 2, field 'query': String should have at most 4096 characters" in err
    assert "line 3, field 'query': must not be blank" in err and "line 4, field 'query': must not be blank" in err
    assert logs(rating_home) == before


def test_a_csv_cell_past_the_csv_limit_is_named_by_file_and_line(rating_home, tmp_path):
    """It was "error: Error: field larger than field limit (131072)", exit 2, naming nothing."""
    path = tmp_path / "ratings.csv"
    path.write_text(f"query,corpus,id,verdict\nICU nurse,health,{NURSE},good\n{'x' * 200_000},health,{NURSE},good\n")
    before = logs(rating_home)
    err = " ".join(invoke_cli("rate", "--file", str(path), code=1).stderr.split())
    assert f"{path} line 3: not a CSV row: field larger than field limit (131072)" in err
    assert logs(rating_home) == before
