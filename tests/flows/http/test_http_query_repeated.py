"""A query parameter given twice is refused by name (FastAPI alone would keep the last value silently),
while the console's forms may repeat keys (one `corpus` per ticked box)."""

from __future__ import annotations

from tests.fixtures.http import assert_error


def test_a_repeated_api_query_parameter_is_refused_by_name(http_client):
    response = http_client.get("/v1/observer/ops", params=[("run_id", "a"), ("run_id", "b"), ("limit", "5")])
    error = assert_error(
        response, 422, "invalid_request", match=r"run_id: given 2 times: give each query parameter once"
    )
    assert [f["field"] for f in error["details"]["fields"]] == ["run_id"]
    assert http_client.get("/v1/observer/ops", params={"run_id": "a"}).status_code == 200


def test_console_forms_may_repeat_a_key(http_client):
    response = http_client.get("/ui/search", params=[("corpus", "a"), ("corpus", "b")])
    assert response.status_code != 422
