"""A lift file (`{"query", "expected"}` per line) given to `rate --file` is named for what it is,
once, instead of three missing fields on every line; nothing is stored."""

from __future__ import annotations

import json

from tests.fixtures import ratings
from tests.fixtures.cli import invoke_cli
from tests.fixtures.ratings import NURSE, logs

rating_home = ratings.rating_home  # the fixture: a writable copy of the health home


def test_a_lift_file_is_named_as_one(rating_home, tmp_path):
    path = tmp_path / "titles_train.jsonl"
    path.write_text("".join(json.dumps({"query": q, "expected": [NURSE]}) + "\n" for q in ("ICU nurse", "RN")))
    result = invoke_cli("rate", "--file", str(path), code=1)
    assert result.stderr.strip() == (
        f"error: {path} line 1: a lift file's row (query, expected), not a rating (columns: query, corpus, id, "
        "verdict, by, note, ts, rating_id); `lakehouse lift run --train FILE` reads lift files"
    )
    assert logs(rating_home) == (b"", b"")
