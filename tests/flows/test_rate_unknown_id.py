"""A rating of a hit id its corpus does not hold: a not-found error naming the row, the field and
the closest ids, from every surface, and nothing stored."""

from __future__ import annotations

import pytest

from lakehouse.learning.errors import RatedIdNotFound
from lakehouse.learning.ratings import record_ratings
from tests.fixtures import ratings
from tests.fixtures.cli import invoke_cli
from tests.fixtures.http import make_settings, serve
from tests.fixtures.ratings import NURSE, logs, open_home
from tests.fixtures.vectors import HEALTH_MODEL

rating_home = ratings.rating_home  # the fixture: a writable copy of the health home


def test_in_process_every_unknown_id_is_listed(rating_home):
    lh = open_home(rating_home)
    batch = [
        {"query": "ICU nurse", "corpus": "health", "id": "29-1141.99", "verdict": "good"},
        {"query": "ICU nurse", "corpus": "health", "id": NURSE, "verdict": "good"},
        {"query": "welder", "corpus": "health", "id": "51-4121.06", "verdict": "bad"},
    ]
    with pytest.raises(RatedIdNotFound) as caught:
        record_ratings(lh, batch, source="mode")
    message = str(caught.value)
    assert message.startswith("2 of 3 ratings rejected, nothing stored: row 1, field 'id': corpus 'health' has no id")
    assert "did you mean '29-1141.04'" in message
    assert "row 3, field 'id': corpus 'health' has no id '51-4121.06'" in message
    assert [p[0] for p in caught.value.problems] == ["row 1", "row 3"]
    assert logs(rating_home) == (b"", b"")
    lh.close()


def test_the_cli_exits_1(rating_home):
    result = invoke_cli("rate", "ICU nurse", "--corpus", "health", "--bad", "no-such-id", code=1)
    assert "error: rating rejected, nothing stored: --bad: corpus 'health' has no id 'no-such-id'" in result.stderr
    assert logs(rating_home) == (b"", b"")


def test_http_answers_404_for_a_bulk_batch(rating_home):
    ratings = [
        {"query": "ICU nurse", "corpus": "health", "id": NURSE, "verdict": "good"},
        {"query": "ICU nurse", "corpus": "health", "id": "29-0000.00", "verdict": "good"},
    ]
    with serve(make_settings(rating_home, embed_model=HEALTH_MODEL)) as api, api.client() as client:
        response = client.post("/v1/matrix/feedback", json={"ratings": ratings})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["type"] == "rated_id_not_found"
    assert "row 2, field 'id': corpus 'health' has no id '29-0000.00'" in error["message"]
    assert logs(rating_home) == (b"", b"")
