"""`rate --file` of rows that repeat one placement said "recorded 1 rating(s) ..., 9999 already there":
they were repeats within the file, not ratings stored before, and one placement made twice without
a ts silently counted once. The repeats are counted apart and the message says how to keep them."""

from __future__ import annotations

import json

from tests.fixtures import ratings
from tests.fixtures.cli import invoke_cli
from tests.fixtures.ratings import HYGIENIST, NURSE

rating_home = ratings.rating_home  # the fixture: a writable copy of the health home


def test_rows_repeated_within_the_file_are_not_called_already_there(rating_home, tmp_path):
    path = tmp_path / "placements.csv"
    rows = [f"night ICU nurse,health,{NURSE},good,,"] * 3 + [f"dental cleaning,health,{HYGIENIST},good,,"]
    path.write_text("query,corpus,id,verdict,by,ts\n" + "\n".join(rows) + "\n")
    out = json.loads(invoke_cli("rate", "--file", str(path), "--json").stdout)
    assert (out["recorded"], out["duplicates"], out["repeated"]) == (2, 2, 2)
    again = " ".join(invoke_cli("rate", "--file", str(path)).stdout.split())
    assert "2 already there, 2 repeated an earlier row of the file and count once (a placement made twice" in again
