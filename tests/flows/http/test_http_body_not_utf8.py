"""A JSON body that is not UTF-8 (a Latin-1 client, a binary upload sent as JSON) is a 400 naming the
byte and its place, not FastAPI's "There was an error parsing the body"; nothing is stored."""

from __future__ import annotations

import pytest

from tests.fixtures.http import assert_error

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    "path, body, place",
    [
        ("/v1/modes/fixture.echo", b'{"value": "caf\xe9"}', "line 1, column 15"),
        ("/v1/matrix/feedback", b'{"query": "nurse",\n "corpus": "h\xff", "good": "1"}', "line 2, column 14"),
        ("/v1/observer/event", b'{"mode": "probe", "status": "completed", "input": "\xc3"}', "line 1, column 52"),
    ],
)
def test_a_body_that_is_not_utf8_is_a_400_naming_the_byte(http_client, http_api, path, body, place):
    before = len(http_api.lakehouse.observer.ops(limit=10_000))
    response = http_client.post(path, content=body, headers=JSON)
    byte = next(b for b in body if b >= 0x80)  # the first byte UTF-8 cannot start with here
    assert_error(
        response,
        400,
        "malformed_json",
        match=rf"^request body is not valid UTF-8: byte 0x{byte:02X} at {place} \(JSON is sent as UTF-8\)$",
    )
    assert len(http_api.lakehouse.observer.ops(limit=10_000)) == before
    again = http_client.post("/v1/modes/fixture.echo", json={"value": "café"})
    assert again.status_code == 200 and again.json() == {"value": "café"}
