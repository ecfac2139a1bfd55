"""`GET /v1/observer/ops?top=N` reads the newest ops from the log's end. It parsed the whole log on
every call and filtered it after: on a 190 MB log (102,000 ops) `?top=20` took 5-19 s and took the
API from 170 MB to 766 MB of RSS, so a page polling it could hold a long-running API down."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def test_top_n_is_read_from_the_end_of_the_log(http_api, http_client, monkeypatch):
    for text in ("a", "b", "c"):
        http_client.post("/v1/modes/fixture.upper", json={"text": text})
    http_client.post("/v1/modes/fixture.echo", json={"value": "newest"})  # not of the mode asked for

    def whole_log() -> Iterator[dict[str, Any]]:
        raise AssertionError("the whole op log was read for the newest few ops")

    monkeypatch.setattr(http_api.lakehouse.observer.log, "records", whole_log)
    response = http_client.get("/v1/observer/ops", params={"mode": "fixture.upper", "status": "completed", "top": 2})
    assert response.status_code == 200, response.text
    ops = response.json()
    assert ops["count"] == 2 and [op["output"]["text"] for op in ops["ops"]] == ["B", "C"]
