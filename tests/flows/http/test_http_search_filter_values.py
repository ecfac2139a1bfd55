"""`/v1/matrix/search` and `/v1/pathway/search` took filter values the filter cannot compare (an
object, an empty list, null) and silently dropped every row (`metadata_filter_dropped: 6`): each is
refused, naming the key."""

from __future__ import annotations

import pytest

from tests.fixtures.http import assert_error


@pytest.fixture(scope="module")
def corpus(http_client):
    csv = b"id,description,major_group\nw1,Forklift operator,53\nc1,Registered nurse,29\n"
    assert http_client.post("/v1/ingest", data={"table": "jobs_fv"}, files={"file": ("fv.csv", csv)}).status_code == 200
    built = http_client.post(
        "/v1/modes/corpus.build",
        json={
            "name": "fv",
            "table": "jobs_fv",
            "text_cols": ["description"],
            "id_col": "id",
            "metadata_cols": ["major_group"],
        },
    )
    assert built.status_code == 200, built.text


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ({"$ne": 1}, r'^filter \'major_group\': \{"\$ne": 1\} is not supported: a filter value is a string'),
        ([], r"^filter 'major_group': the empty list \[\] matches no row; give at least one value"),
        (None, r"^filter 'major_group': null is not supported"),
        (["53", ["29"]], r"^filter 'major_group': \[\"53\", \[\"29\"\]\] is not supported"),
    ],
)
def test_a_filter_value_that_cannot_compare_is_refused(corpus, http_client, value, said):
    body = {"query": "forklift", "corpora": ["fv"], "filter": {"major_group": value}, "relevance": False}
    assert_error(http_client.post("/v1/matrix/search", json=body), 400, "filter_error", said)


def test_a_pathway_where_value_that_cannot_compare_is_refused(http_client):
    body = {"query": "nurses", "where": {"state": {"in": ["IL"]}}}
    assert_error(http_client.post("/v1/pathway/search", json=body), 400, "filter_error", r"^where 'state': ")
