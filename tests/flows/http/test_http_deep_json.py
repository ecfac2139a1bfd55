"""A JSON body nested deeper than Python's recursion limit (a few kilobytes of brackets) is a 400
that says so, stores nothing, and the server answers the next request."""

from __future__ import annotations

import re

import pytest

from tests.fixtures.http import assert_error

DEEP = b"[" * 5000 + b"]" * 5000
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    "path, body",
    [
        ("/v1/modes/fixture.echo", b'{"value": ' + DEEP + b"}"),
        ("/v1/matrix/feedback", b'{"query": "nurse", "corpus": "health", "good": ' + DEEP + b"}"),
        ("/v1/sql", DEEP),
    ],
)
def test_a_deeply_nested_body_is_a_400_naming_it(http_client, path, body):
    response = http_client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "malformed_json", match=r"^request body is not valid JSON: nested too deeply$")
    again = http_client.post("/v1/modes/fixture.echo", json={"value": [[1]]})
    assert again.status_code == 200 and again.json() == {"value": [[1]]}


def test_sql_nested_past_the_checker_is_a_400_naming_it(http_client):
    response = http_client.post("/v1/sql", json={"sql": "SELECT " + "[" * 990 + "1" + "]" * 990})
    assert_error(response, 400, "sql_rejected", match=r"SQL is nested too deeply to check")


def _nested(levels: int) -> bytes:
    """A body `levels` deep: the object, then lists."""
    return b'{"value": ' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"


@pytest.mark.parametrize("levels", [65, 256, 900])
def test_a_body_deeper_than_the_limit_is_a_400_with_the_limit(http_client, levels):
    """Under Python's recursion limit it parsed, and from 256 levels answering it failed (a 500)."""
    response = http_client.post("/v1/modes/fixture.echo", content=_nested(levels), headers=JSON)
    assert_error(
        response,
        400,
        "malformed_json",
        match=rf"^request body nests {levels} levels of lists and objects \(at value\); at most 64 are accepted$",
    )
    assert http_client.post("/v1/modes/fixture.echo", content=_nested(64), headers=JSON).status_code == 200


def test_a_wide_body_is_not_a_deep_one(http_client):
    response = http_client.post("/v1/modes/fixture.echo", json={"value": [[i] for i in range(500)]})
    assert response.status_code == 200 and len(response.json()["value"]) == 500


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (b"NaN", "NaN is not a JSON number"),
        (b"-Infinity", "-Infinity is not a JSON number"),
        (b"1e400", "the number 1e400 is too large for a double"),
    ],
)
def test_numbers_json_does_not_have_are_a_400_and_nothing_is_recorded(http_client, http_api, value, problem):
    """Python's json module reads them; the op stored null beside the hash of what was sent."""
    before = len(http_api.lakehouse.observer.ops(limit=10_000))
    body = b'{"mode": "probe", "status": "completed", "input": ' + value + b"}"
    response = http_client.post("/v1/observer/event", content=body, headers=JSON)
    assert_error(response, 400, "malformed_json", match=rf"^request body is not valid JSON: {re.escape(problem)}$")
    assert len(http_api.lakehouse.observer.ops(limit=10_000)) == before
    fine = http_client.post("/v1/modes/fixture.echo", content=b'{"value": [1e300, "NaN", 2E10]}', headers=JSON)
    assert fine.status_code == 200 and fine.json() == {"value": [1e300, "NaN", 2e10]}
