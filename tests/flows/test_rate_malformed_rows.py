"""Malformed rows of a bulk import (a bad verdict, a missing query, a bad timestamp): every one is
named by file, line and field, and nothing of the file is stored, not even its good rows."""

from __future__ import annotations

import json

from tests.fixtures import ratings
from tests.fixtures.cli import invoke_cli
from tests.fixtures.http import make_settings, serve
from tests.fixtures.ratings import NURSE, logs
from tests.fixtures.vectors import HEALTH_MODEL

rating_home = ratings.rating_home  # the fixture: a writable copy of the health home

CSV = (
    "query,corpus,id,verdict,by,note,ts\n"
    f"night shift ICU nurse,health,{NURSE},good,bo,,2025-01-02T10:00:00Z\n"  # fine
    f"ICU nurse,health,{NURSE},maybe,,,\n"  # bad verdict
    f",health,{NURSE},good,,,\n"  # missing query
    f"x-ray tech,health,{NURSE},bad,ana,,yesterday\n"  # bad ts
)


def test_a_csv_import_lists_every_bad_row_and_stores_nothing(rating_home, tmp_path):
    path = tmp_path / "placements.csv"
    path.write_text(CSV)
    result = invoke_cli("rate", "--file", str(path), code=1)
    message = " ".join(result.stderr.split())
    # refused before the embedding model loads: no "loading the embedding model…" first
    assert message.startswith("error: 3 of 4 ratings rejected, nothing stored:")
    assert f"{path} line 3, field 'verdict': expected good or bad (also 1/0, true/false), got 'maybe'" in message
    assert f"{path} line 4, field 'query': Field required" in message
    assert f"{path} line 5, field 'ts': Input should be a valid datetime" in message
    assert "line 2" not in message
    assert logs(rating_home) == (b"", b"")


def test_a_jsonl_import_names_lines_too(rating_home, tmp_path):
    rows = [
        {"query": "ICU nurse", "corpus": "health", "id": NURSE, "verdict": "good"},
        {"query": "   ", "corpus": "health", "id": NURSE, "verdict": "good"},
        {"query": "ICU nurse", "corpus": "health", "id": NURSE, "verdict": "good", "ts": "2025-13-40"},
    ]
    path = tmp_path / "placements.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = invoke_cli("rate", "--file", str(path), "--json", code=1)
    message = " ".join(result.stderr.split())
    assert f"{path} line 2, field 'query': must not be blank" in message
    assert f"{path} line 3, field 'ts':" in message
    assert logs(rating_home) == (b"", b"")


def test_an_http_batch_with_a_bad_row_is_a_422_naming_it(rating_home):
    ratings = [
        {"query": "ICU nurse", "corpus": "health", "id": NURSE, "verdict": "good"},
        {"query": "ICU nurse", "corpus": "health", "id": NURSE, "verdict": "maybe"},
        {"corpus": "health", "id": NURSE, "verdict": "bad"},
        {"query": "ICU nurse", "corpus": "health", "id": NURSE, "verdict": "bad", "ts": "yesterday"},
    ]
    with serve(make_settings(rating_home, embed_model=HEALTH_MODEL)) as api, api.client() as client:
        response = client.post("/v1/matrix/feedback", json={"ratings": ratings})
    assert response.status_code == 422
    fields = {f["field"] for f in response.json()["error"]["details"]["fields"]}
    assert fields == {"ratings[1].verdict", "ratings[2].query", "ratings[3].ts"}
    assert logs(rating_home) == (b"", b"")
