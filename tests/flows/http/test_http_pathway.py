"""`/v1/pathway/*` over a real server: add, update, revise, retire, history, search (real MiniLM)."""

from __future__ import annotations

import pytest

from tests.fixtures.http import assert_error


@pytest.fixture(scope="module")
def traces(http_client):
    """A small memory: a forklift trace revised once, a nurse trace, a welder trace retired."""

    def post(action, body):
        response = http_client.post(f"/v1/pathway/{action}", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    post("add", {"id": "forklift-1", "text": "forklift operator for a cold warehouse", "metadata": {"team": "ops"}})
    post("add", {"id": "nurse-1", "text": "registered nurse for intensive care nights", "metadata": {"team": "care"}})
    post("add", {"id": "welder-1", "text": "pipe welder for a shipyard", "metadata": {"team": "ops"}})
    post("update", {"id": "forklift-1", "metadata": {"shift": "night"}})
    post(
        "revise", {"id": "forklift-1", "new_id": "forklift-2", "text": "reach-truck forklift driver, freezer warehouse"}
    )
    post("retire", {"id": "welder-1", "reason": "role filled"})
    return post


def test_add_answers_the_trace(traces, http_client):
    trace = traces("add", {"text": "line cook for a diner", "metadata": {"team": "food"}})["trace"]
    assert trace["version"] == 1 and trace["status"] == "active" and trace["metadata"] == {"team": "food"}


def test_update_merges_metadata_in_place(traces, http_client):
    (first,) = [
        t
        for t in http_client.post("/v1/pathway/history", json={"id": "forklift-2"}).json()["chain"]
        if t["id"] == "forklift-1"
    ]
    assert first["metadata"] == {"team": "ops", "shift": "night"} and first["status"] == "superseded"


def test_history_walks_the_revise_chain_backwards(traces, http_client):
    body = http_client.post("/v1/pathway/history", json={"id": "forklift-2"}).json()
    assert [t["id"] for t in body["chain"]] == ["forklift-2", "forklift-1"]
    assert body["chain"][0]["version"] == 2 and body["chain"][0]["metadata"]["team"] == "ops"


def test_search_skips_retired_and_superseded_traces(traces, http_client):
    body = http_client.post("/v1/pathway/search", json={"query": "forklift in a freezer", "top_k": 10}).json()
    ids = [h["trace"]["id"] for h in body["hits"]]
    assert ids[0] == "forklift-2"
    assert "welder-1" not in ids and "forklift-1" not in ids
    ops_only = http_client.post("/v1/pathway/search", json={"query": "welding", "where": {"team": "ops"}}).json()
    assert [h["trace"]["id"] for h in ops_only["hits"]] == ["forklift-2"]


def test_retire_of_a_retired_trace_is_400(traces, http_client):
    assert_error(
        http_client.post("/v1/pathway/retire", json={"id": "welder-1"}),
        400,
        "pathway_error",
        match=r"cannot retire trace 'welder-1': it is retired",
    )


def test_unknown_trace_is_404(traces, http_client):
    for action, body in [
        ("update", {"id": "ghost", "text": "x"}),
        ("history", {"id": "ghost"}),
        ("revise", {"id": "ghost", "text": "x"}),
    ]:
        assert_error(
            http_client.post(f"/v1/pathway/{action}", json=body),
            404,
            "trace_not_found",
            match=r"no trace with id 'ghost'",
        )


@pytest.mark.parametrize(
    ("action", "body", "match"),
    [
        ("add", {"text": ""}, r"text: String should have at least 1 character"),
        ("add", {"txt": "hello"}, r"unknown field 'txt'; did you mean 'text'\?"),
        ("search", {"query_text": "forklift"}, r"unknown field 'query_text'; did you mean 'query'\?"),
        ("search", {"query": "x", "top_k": 0}, r"top_k: Input should be greater than or equal to 1"),
        ("retire", {}, r"id: Field required"),
    ],
)
def test_bad_pathway_requests_are_422_naming_the_field(http_client, action, body, match):
    assert_error(http_client.post(f"/v1/pathway/{action}", json=body), 422, "invalid_request", match=match)


def test_bad_input_changes_nothing(traces, http_client, http_api):
    before = http_api.lakehouse.pathway.path.read_bytes()
    assert_error(
        http_client.post("/v1/pathway/add", json={"id": "forklift-2", "text": "duplicate id"}),
        400,
        "pathway_error",
        match=r"trace id 'forklift-2' already exists",
    )
    assert_error(
        http_client.post("/v1/pathway/update", json={"id": "nurse-1"}),
        400,
        "pathway_error",
        match=r"give new text, metadata or both",
    )
    assert http_api.lakehouse.pathway.path.read_bytes() == before
