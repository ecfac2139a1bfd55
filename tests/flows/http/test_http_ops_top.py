"""`/v1/observer/ops?top=N`: the CLI's `--top` for the same listing. The route knew only `limit`, so
`?top=2` was ignored without a word and every op came back."""

from __future__ import annotations

from tests.fixtures.http import assert_error


def test_top_keeps_the_newest_n(http_client):
    for text in ("a", "b", "c"):
        http_client.post("/v1/modes/fixture.upper", json={"text": text})
    ops = http_client.get("/v1/observer/ops", params={"mode": "fixture.upper", "top": 2}).json()
    assert ops["count"] == 2 and [op["output"]["text"] for op in ops["ops"]] == ["B", "C"]


def test_top_and_limit_that_disagree_are_refused(http_client):
    response = http_client.get("/v1/observer/ops", params={"top": 2, "limit": 3})
    assert_error(response, 400, "invalid_request", match=r"top=2 and limit=3 disagree: give one")
