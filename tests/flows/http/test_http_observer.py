"""`/v1/observer/ops`, `/stats` and `/event`: reading the op log and writing external events."""

from __future__ import annotations

import pytest

from tests.fixtures.http import assert_error, make_settings, serve


@pytest.fixture(scope="module")
def tiny_ring(tmp_path_factory):
    with serve(make_settings(tmp_path_factory.mktemp("ring"), ops_ring_size=3)) as live, live.client() as c:
        yield live, c


def test_events_into_a_full_ring_evict_the_oldest_and_are_still_accepted(tiny_ring):
    live, c = tiny_ring
    for i in range(5):
        response = c.post(
            "/v1/observer/event",
            json={"mode": "deploy.finished", "run_id": f"ev-{i}", "input": {"i": i}, "status": "completed"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["source"] == "event"
    ring = [op.run_id for op in live.lakehouse.observer.ring]
    assert ring == ["ev-2", "ev-3", "ev-4"]
    logged = c.get("/v1/observer/ops", params={"source": "event"}).json()
    assert [op["run_id"] for op in logged["ops"]] == [f"ev-{i}" for i in range(5)]  # the log keeps all
    stats = c.get("/v1/observer/stats").json()
    assert stats["ring"] == {"size": 3, "capacity": 3}
    assert stats["by_source"]["event"] == 5


def test_event_with_timestamps_and_failure(tiny_ring):
    _, c = tiny_ring
    body = c.post(
        "/v1/observer/event",
        json={
            "mode": "backup.nightly",
            "status": "failed",
            "error": "disk full",
            "ts_start": "2026-01-02T03:04:05",
            "ts_end": "2026-01-02T03:04:07.500Z",
        },
    ).json()
    assert (body["status"], body["error"], body["duration_ms"]) == ("failed", "disk full", 2500.0)


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ({"mode": "x", "status": "done"}, r"status: Input should be 'completed', 'failed' or 'skipped'"),
        ({"mode": "x", "source": "http"}, r"unknown field 'source'"),
        (
            {"mode": "x", "ts_start": "2026-01-02T00:00:05Z", "ts_end": "2026-01-02T00:00:01Z"},
            r"ts_end is before ts_start",
        ),
        ({"mode": "x", "tokens": -1}, r"tokens: Input should be greater than or equal to 0"),
        # year 1 to 9999: duration_ms 3.2e14 in the log, every `ops stats` percentile skewed
        (
            {"mode": "x", "ts_start": "0001-01-01T00:00:00Z", "ts_end": "2026-01-01T00:00:00Z"},
            r"the event lasts [0-9,]+ days \(ts_start 0001-01-01T00:00:00\+00:00, .*at most 31 days are accepted",
        ),
        ({"mode": "x", "ts_end": "9999-12-31T00:00:00Z"}, r"ts_end 9999-12-31T00:00:00\+00:00 is in the future"),
    ],
)
def test_bad_events_are_422_and_record_nothing(tiny_ring, payload, match):
    live, c = tiny_ring
    before = len(live.lakehouse.observer.ops())
    assert_error(c.post("/v1/observer/event", json=payload), 422, "invalid_request", match=match)
    assert len(live.lakehouse.observer.ops()) == before


def test_ops_filters_and_limit(http_client):
    for text in ("a", "b", "c"):
        http_client.post("/v1/modes/fixture.upper", json={"text": text})
    http_client.post("/v1/modes/fixture.upper", json={"txt": "bad"})
    ops = http_client.get(
        "/v1/observer/ops", params={"mode": "fixture.upper", "status": "completed", "limit": 2}
    ).json()
    assert ops["count"] == 2 and [op["output"]["text"] for op in ops["ops"]] == ["B", "C"]
    assert all(op["source"] == "http" for op in ops["ops"])


def test_ops_bad_limit_or_status_is_422(http_client):
    assert_error(
        http_client.get("/v1/observer/ops", params={"limit": 0}),
        422,
        "invalid_request",
        match=r"limit: Input should be greater than or equal to 1",
    )
    assert_error(
        http_client.get("/v1/observer/ops", params={"status": "done"}),
        422,
        "invalid_request",
        match=r"status: Input should be 'completed', 'failed' or 'skipped'",
    )


def test_stats_counts_http_calls(http_client):
    http_client.post("/v1/modes/fixture.echo", json={"value": 1})
    stats = http_client.get("/v1/observer/stats").json()
    assert stats["by_source"]["http"] >= 1 and stats["duration_ms"]["p50"] is not None


def test_stats_refuses_a_body_method(http_client):
    assert_error(http_client.post("/v1/observer/stats", json={}), 405, "method_not_allowed")
