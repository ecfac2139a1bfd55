"""An id names one record over HTTP: a rating, playbook or trace sent again under its id is a
duplicate (200, nothing stored twice); other content under a taken id is a 409 naming both, never a
silent duplicate; a batch of which every entry failed is an error, and each failed row keeps its id."""

from __future__ import annotations

import pytest

from tests.fixtures import ratings
from tests.fixtures.http import assert_error, make_settings, serve
from tests.fixtures.ratings import HYGIENIST, NURSE, logs
from tests.fixtures.vectors import HEALTH_MODEL

rating_home = ratings.rating_home

RATING = {"query": "ICU nurse", "corpus": "health", "id": NURSE, "verdict": "good", "rating_id": "q1"}
ENTRY = {"query": "ICU nurse", "answer": NURSE, "corpus": "health", "score": 1.0, "id": "pb1"}


@pytest.fixture
def client(rating_home):
    with serve(make_settings(rating_home, embed_model=HEALTH_MODEL)) as api, api.client() as http:
        yield http


def test_a_rating_id_reused_for_another_rating_is_a_409_and_stores_nothing(client, rating_home):
    assert client.post("/v1/matrix/feedback", json=RATING).json()["recorded"] == 1
    before = logs(rating_home)
    other = {**RATING, "query": "other", "verdict": "bad"}
    for body in (other, {"ratings": [other]}):
        assert_error(
            client.post("/v1/matrix/feedback", json=body),
            409,
            "rating_conflict",
            match=r"'q1' already names another recorded rating \(query 'ICU nurse', .*differs in its query, verdict",
        )
    within = client.post(
        "/v1/matrix/feedback", json={"ratings": [{**RATING, "rating_id": "q2"}, {**other, "rating_id": "q2"}]}
    )
    error = assert_error(within, 409, "rating_conflict", match=r"row 2, field 'rating_id': 'q2' also names row 1")
    assert error["details"]["problems"][0]["row"] == "row 2"
    assert logs(rating_home) == before
    again = client.post("/v1/matrix/feedback", json=RATING)  # the same rating: a retry
    assert (again.status_code, again.json()["duplicates"]) == (200, 1)


def test_a_playbook_id_reused_for_another_judgement_is_a_409(client, rating_home):
    assert client.post("/v1/matrix/playbooks", json=ENTRY).json()["recorded"] == 1
    before = logs(rating_home)
    other = {**ENTRY, "query": "q other", "score": -1}
    assert_error(
        client.post("/v1/matrix/playbooks", json=other),
        409,
        "playbook_conflict",
        match=r"id 'pb1' already names another judgement .*differs in its query, score",
    )
    error = assert_error(client.post("/v1/matrix/playbooks/bulk", json={"entries": [other]}), 409, "playbook_conflict")
    assert error["details"]["results"][0]["id"] == "pb1"
    mixed = client.post("/v1/matrix/playbooks/bulk", json={"entries": [other, {**ENTRY, "id": "pb2"}]})
    assert mixed.status_code == 200, mixed.text  # one stored: the batch reports each entry
    assert [(r["id"], r.get("status")) for r in mixed.json()["results"]] == [("pb1", "conflict"), ("pb2", None)]
    assert logs(rating_home)[0].count(b'"id":"pb') == before[0].count(b'"id":"pb') + 1


def test_a_bulk_batch_that_stored_nothing_is_an_error_naming_each_entry(client, rating_home):
    entries = [{**ENTRY, "id": "pb7", "corpus": "nocorp"}, {**ENTRY, "id": "pb8", "answer": HYGIENIST + "x"}]
    error = assert_error(
        client.post("/v1/matrix/playbooks/bulk", json={"entries": entries}),
        400,
        "playbook_error",
        match=r"none of the 2 entries was stored: entry 0: corpus 'nocorp' not found.*; entry 1: corpus 'health' "
        r"has no id",
    )
    assert [r["id"] for r in error["details"]["results"]] == ["pb7", "pb8"]
    assert logs(rating_home) == (b"", b"")


def test_a_trace_import_that_stored_nothing_is_an_error_and_keeps_the_ids(client):
    assert client.post("/v1/pathway/add", json={"id": "P1", "text": "forklift driver"}).status_code == 200
    conflict = client.post("/v1/pathway/import", json={"entries": [{"id": "P1", "text": "other text"}]})
    error = assert_error(conflict, 409, "pathway_conflict", match=r"trace id 'P1' already exists with other text")
    assert error["details"]["results"] == [{"index": 0, "id": "P1", "status": "conflict", "error": error["message"]}]
    failed = client.post(
        "/v1/pathway/import", json={"entries": [{"id": "P2", "text": ""}, {"id": "P1", "text": "other text"}]}
    )
    error = assert_error(failed, 400, "pathway_error", match=r"none of the 2 entries was stored: entry 0: ")
    assert [r["id"] for r in error["details"]["results"]] == ["P2", "P1"]
    partly = client.post("/v1/pathway/import", json={"entries": [{"id": "P1", "text": "x"}, {"id": "P3", "text": "y"}]})
    assert partly.status_code == 200, partly.text
    assert [r["status"] for r in partly.json()["results"]] == ["conflict", "added"]
