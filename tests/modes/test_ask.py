"""Mode `ask` through `invoke_mode`, against the fake LLM and the real `health` corpus (wordllama)."""

from __future__ import annotations

import pytest

from lakehouse.core import Lakehouse
from lakehouse.llm.errors import ChatNotConfigured, UnknownModel
from modes.context import ModeContext
from modes.invoke import invoke_mode
from tests.fixtures import ask as ask_fixtures
from tests.fixtures.ask import INVENTED, SOURDOUGH, XRAY, ask_settings, cite_first_two, cite_invented, source_ids

ask_home = ask_fixtures.ask_home  # the fixture: a writable copy of the health home


@pytest.fixture
def judged(ask_home, fake_llm):
    """The health lakehouse with a `local_judge` tier at the fake server."""
    lh = Lakehouse(ask_settings(ask_home, fake_llm))
    yield lh
    lh.close()


def _ask(lh: Lakehouse, **payload) -> dict:
    return invoke_mode("ask", {"question": XRAY, "corpora": ["health"], **payload}, ModeContext(lakehouse=lh))


def test_answer_citing_only_hit_ids_has_no_flags(judged, fake_llm):
    fake_llm.reply = cite_first_two
    out = _ask(judged)
    relevant = judged.matrix.search(XRAY, ["health"], relevance=True)
    assert out["hit_ids"] == [h.id for h in relevant.hits] and out["relevant_count"] == relevant.count > 2
    [request] = fake_llm.requests
    given = source_ids(request["body"])
    assert given == out["hit_ids"]  # the model read exactly the relevant hits, numbered in rank order
    assert XRAY in request["body"]["messages"][-1]["content"]
    assert "only" in request["body"]["messages"][0]["content"]
    assert out["citations"] == given[:2] and [h["id"] for h in out["cited_hits"]] == given[:2]
    assert out["flagged"] == {"invented_ids": [], "uncited": False}
    assert (out["grounded"], out["called_llm"], out["answer_format"], out["model"]) == (
        True,
        True,
        "json",
        "openai/fake-model",
    )
    assert out["answer"].startswith("Radiologic technologists [")
    op = judged.observer.ops(limit=1)[0]
    assert (op["mode"], op["status"], op["model"]) == ("ask", "completed", "openai/fake-model")


def test_an_invented_id_is_flagged_and_the_answer_still_returned(judged, fake_llm):
    fake_llm.reply = cite_invented
    out = _ask(judged, top_n=3)
    first = out["hit_ids"][0]
    assert out["relevant_count"] == 3
    assert out["answer"] == f"Radiographers do [{first}], as do nuclear imaging aides [{INVENTED}]."
    assert out["citations"] == [first, INVENTED]
    assert [h["id"] for h in out["cited_hits"]] == [first]
    assert out["flagged"] == {"invented_ids": [INVENTED], "uncited": False}
    assert (out["grounded"], out["answer_format"]) == (False, "text")


def test_an_answer_citing_nothing_is_flagged_uncited(judged, fake_llm):
    fake_llm.reply = lambda body: '```json\n{"answer": "Imaging staff do.", "citations": []}\n```'
    out = _ask(judged)
    assert (out["answer"], out["citations"], out["answer_format"]) == ("Imaging staff do.", [], "json")
    assert out["flagged"] == {"invented_ids": [], "uncited": True} and out["grounded"] is False


def test_no_relevant_hit_answers_so_and_asks_no_model(judged, fake_llm):
    out = _ask(judged, question=SOURDOUGH)
    assert fake_llm.requests == []
    assert (out["called_llm"], out["model"], out["relevant_count"], out["answer_format"]) == (False, None, 0, "none")
    assert out["relevance_dropped"] > 0
    assert out["answer"].startswith("No relevant source in health for this question (the relevance filter dropped")
    assert out["answer"].endswith("no model was asked.")
    assert out["citations"] == out["cited_hits"] == [] and out["grounded"] is False


def test_a_filter_that_leaves_no_hit_asks_no_model(judged, fake_llm):
    out = _ask(judged, where="\"Title\" = 'No Such Title'")
    assert fake_llm.requests == [] and out["called_llm"] is False and out["relevant_count"] == 0
    assert "(nothing was found)" in out["answer"]


def test_without_a_configured_model_the_error_says_to_configure_one(ask_home, fake_llm):
    lh = Lakehouse(ask_settings(ask_home))  # no tiers, no default
    try:
        with pytest.raises(
            ChatNotConfigured, match=r"no LLM model is configured: name one \(.*`--model` of `lakehouse ask`"
        ):
            _ask(lh)
        assert lh.observer.ops(limit=1)[0]["status"] == "failed"
        # a question nothing answers needs no model
        assert _ask(lh, question=SOURDOUGH)["called_llm"] is False
    finally:
        lh.close()
    assert fake_llm.requests == []


def test_the_workflow_model_and_an_explicit_model_win_over_the_judge_tier(judged, fake_llm):
    with pytest.raises(UnknownModel, match=r"unknown model 'nope'"):
        _ask(judged, model="nope")
    ctx = ModeContext(lakehouse=judged, model="also-nope")
    with pytest.raises(UnknownModel, match=r"unknown model 'also-nope'"):
        invoke_mode("ask", {"question": XRAY, "corpora": ["health"]}, ctx)
    assert fake_llm.requests == []
