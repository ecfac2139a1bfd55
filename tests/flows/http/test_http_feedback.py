"""`POST /v1/matrix/feedback`: one rating or a bulk batch (idempotent), recorded with source `http`,
strict JSON as its schema says, and at most 10,000 rows."""

from __future__ import annotations

from lakehouse.common.recordfile import read_records
from lakehouse.learning.distill import EvidenceRecord
from tests.fixtures import ratings
from tests.fixtures.http import make_settings, serve
from tests.fixtures.ratings import HYGIENIST, NURSE, logs
from tests.fixtures.vectors import HEALTH_MODEL

rating_home = ratings.rating_home  # the fixture: a writable copy of the health home

BATCH = [
    {"query": "ICU nurse", "corpus": "health", "id": NURSE, "verdict": "good", "by": "ana"},
    {"query": "dental cleaning", "corpus": "health", "id": HYGIENIST, "verdict": "good", "ts": "2025-03-01T09:00:00Z"},
    {"query": "dental cleaning", "corpus": "health", "id": NURSE, "verdict": "bad", "note": "a nurse, not a hygienist"},
]


def test_single_and_bulk_ratings(rating_home):
    with serve(make_settings(rating_home, embed_model=HEALTH_MODEL)) as api, api.client() as client:
        one = client.post(
            "/v1/matrix/feedback", json={"query": "ICU nurse", "corpus": "health", "id": NURSE, "verdict": "good"}
        )
        assert one.status_code == 200, one.text
        assert one.json()["recorded"] == 1
        bulk = client.post("/v1/matrix/feedback", json={"ratings": BATCH})
        assert bulk.status_code == 200, bulk.text
        assert [r["status"] for r in bulk.json()["results"]] == ["recorded"] * 3
        before = logs(rating_home)
        again = client.post("/v1/matrix/feedback", json={"ratings": BATCH})  # a retry after a timeout, say
        assert (again.json()["recorded"], again.json()["duplicates"]) == (0, 3)
        assert logs(rating_home) == before
        ops = [op for op in api.lakehouse.observer.ops() if op["mode"] == "matrix.feedback"]
        assert {op["source"] for op in ops} == {"http"}
        schema = client.get("/openapi.json").json()
        assert "/v1/matrix/feedback" in schema["paths"]
    evidence = read_records(rating_home / "evidence.jsonl", EvidenceRecord)
    assert len(evidence) == 4 and {e.meta["source"] for e in evidence} == {"http"}


def test_strict_json_and_the_batch_limit(rating_home):
    with serve(make_settings(rating_home, embed_model=HEALTH_MODEL)) as api, api.client() as client:
        loose = client.post(
            "/v1/matrix/feedback", json={"query": "ICU nurse", "corpus": "health", "id": 7, "verdict": True}
        )
        assert loose.status_code == 422
        assert {f["field"] for f in loose.json()["error"]["details"]["fields"]} == {"id", "verdict"}
        both = client.post("/v1/matrix/feedback", json={"query": "ICU nurse", "ratings": BATCH})
        assert both.status_code == 422 and "not both" in both.json()["error"]["message"]
        # year 1 at +05:00 is before year 1 in UTC: the rating's id overflowed (a 500)
        year_zero = client.post("/v1/matrix/feedback", json={**BATCH[0], "ts": "0001-01-01T00:00:00+05:00"})
        assert year_zero.status_code == 422 and "falls outside the years 1-9999 in UTC" in year_zero.text
        too_many = client.post("/v1/matrix/feedback", json={"ratings": BATCH[:1] * 10_001})
        assert too_many.status_code == 422
        assert "at most 10000 items" in too_many.json()["error"]["message"]
    assert logs(rating_home) == (b"", b"")
