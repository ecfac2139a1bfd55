"""`POST /v1/ask` over a real server, against the fake LLM and the `health` corpus (wordllama)."""

from __future__ import annotations

import pytest

from tests.fixtures import ask as ask_fixtures
from tests.fixtures.ask import (
    INVENTED,
    SOURDOUGH,
    XRAY,
    ask_settings,
    cite_first_two,
    cite_invented,
    source_ids,
)
from tests.fixtures.http import assert_error, serve

ask_home = ask_fixtures.ask_home  # the fixture: a writable copy of the health home


@pytest.fixture
def ask_api(ask_home, fake_llm):
    with serve(ask_settings(ask_home, fake_llm)) as live, live.client() as c:
        yield live, c


def test_ask_answers_from_the_hits_and_records_an_http_op(ask_api, fake_llm):
    live, c = ask_api
    fake_llm.reply = cite_first_two
    response = c.post("/v1/ask", json={"question": XRAY, "corpora": ["health"], "top_n": 5})
    assert response.status_code == 200, response.text
    out = response.json()
    [request] = fake_llm.requests
    assert source_ids(request["body"]) == out["hit_ids"] and out["relevant_count"] == 5
    assert out["citations"] == out["hit_ids"][:2] == [h["id"] for h in out["cited_hits"]]
    assert (out["flagged"], out["grounded"]) == ({"invented_ids": [], "uncited": False}, True)
    op = live.lakehouse.observer.ops(limit=1)[0]
    assert (op["mode"], op["source"], op["status"], op["model"]) == ("ask", "http", "completed", "openai/fake-model")


def test_ask_flags_an_invented_id(ask_api, fake_llm):
    _, c = ask_api
    fake_llm.reply = cite_invented
    out = c.post("/v1/ask", json={"question": XRAY, "corpora": ["health"], "filter": {"group": "29-2"}}).json()
    assert out["flagged"]["invented_ids"] == [INVENTED] and out["grounded"] is False
    assert out["answer"].endswith(f"[{INVENTED}].")


def test_ask_without_a_relevant_hit_makes_no_llm_request(ask_api, fake_llm):
    _, c = ask_api
    out = c.post("/v1/ask", json={"question": SOURDOUGH, "corpora": ["health"]}).json()
    assert (out["called_llm"], out["relevant_count"], out["model"]) == (False, 0, None)
    assert fake_llm.requests == []


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"question": XRAY, "corpora": ["health"], "top_k": 3}, r"unknown field 'top_k'"),
        ({"question": "", "corpora": ["health"]}, r"question"),
        ({"question": XRAY, "corpora": []}, r"corpora"),
    ],
)
def test_a_bad_body_is_422_naming_the_field(ask_api, fake_llm, body, match):
    _, c = ask_api
    assert_error(c.post("/v1/ask", json=body), 422, "invalid_request", match=match)
    assert fake_llm.requests == []


def test_an_unknown_corpus_is_404(ask_api):
    _, c = ask_api
    response = c.post("/v1/ask", json={"question": XRAY, "corpora": ["helth"]})
    assert_error(response, 404, "corpus_not_found", match=r"corpus 'helth' not found")


def test_without_a_configured_model_it_is_400_model_not_configured(ask_home, fake_llm):
    with serve(ask_settings(ask_home)) as live, live.client() as c:
        response = c.post("/v1/ask", json={"question": XRAY, "corpora": ["health"]})
    assert_error(response, 400, "model_not_configured", match=r"^no LLM model is configured")
    assert fake_llm.requests == []
