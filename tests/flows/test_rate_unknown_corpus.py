"""A rating of a corpus that does not exist: CorpusNotFound with "did you mean", from every
surface (in-process, CLI exit 1, HTTP 404), and nothing stored, even for the batch's good rows."""

from __future__ import annotations

import pytest

from lakehouse.learning.ratings import record_ratings
from lakehouse.search.errors import CorpusNotFound
from tests.fixtures import ratings
from tests.fixtures.cli import invoke_cli
from tests.fixtures.http import make_settings, serve
from tests.fixtures.ratings import NURSE, logs, open_home
from tests.fixtures.vectors import HEALTH_MODEL

rating_home = ratings.rating_home  # the fixture: a writable copy of the health home


def test_in_process_the_whole_batch_is_refused(rating_home):
    lh = open_home(rating_home)
    batch = [
        {"query": "ICU nurse", "corpus": "health", "id": NURSE, "verdict": "good"},
        {"query": "ICU nurse", "corpus": "helth", "id": NURSE, "verdict": "good"},
    ]
    with pytest.raises(
        CorpusNotFound,
        match=r"^1 of 2 ratings rejected, nothing stored: row 2, field 'corpus': corpus 'helth' not found; "
        r"did you mean 'health'\?",
    ):
        record_ratings(lh, batch, source="mode")
    assert logs(rating_home) == (b"", b"")
    lh.close()


def test_the_cli_exits_1_naming_the_flag(rating_home):
    result = invoke_cli("rate", "ICU nurse", "--corpus", "healht", "--good", NURSE, code=1)
    assert (
        "error: rating rejected, nothing stored: --corpus: corpus 'healht' not found; did you mean 'health'?"
        in result.stderr
    )
    assert logs(rating_home) == (b"", b"")


def test_http_answers_404(rating_home):
    with serve(make_settings(rating_home, embed_model=HEALTH_MODEL)) as api, api.client() as client:
        response = client.post(
            "/v1/matrix/feedback", json={"query": "ICU nurse", "corpus": "nurses", "id": NURSE, "verdict": "bad"}
        )
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["type"] == "corpus_not_found"
    assert error["message"].startswith("rating rejected, nothing stored: field 'corpus': corpus 'nurses' not found")
    assert error["details"]["problems"][0]["field"] == "corpus"
    assert logs(rating_home) == (b"", b"")
