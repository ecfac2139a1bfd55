"""`lakehouse ask` through the real CLI (in-process), against the fake LLM and the `health` corpus."""

from __future__ import annotations

import json

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from tests.fixtures import ask as ask_fixtures
from tests.fixtures.ask import (
    INVENTED,
    SOURDOUGH,
    XRAY,
    cite_first_two,
    cite_invented,
    set_judge_env,
    source_ids,
)
from tests.fixtures.cli import invoke_cli

ask_home = ask_fixtures.ask_home  # the fixture: a writable copy of the health home


def test_ask_json_cites_only_hit_ids(ask_home, fake_llm, monkeypatch):
    set_judge_env(monkeypatch, fake_llm)
    fake_llm.reply = cite_first_two
    out = json.loads(invoke_cli("ask", XRAY, "--corpus", "health", "--top", "4", "--json").stdout)
    [request] = fake_llm.requests
    assert source_ids(request["body"]) == out["hit_ids"] and out["relevant_count"] == 4
    assert out["citations"] == out["hit_ids"][:2] and out["flagged"] == {"invented_ids": [], "uncited": False}
    assert out["model"] == "openai/fake-model"
    lh = Lakehouse(Settings())
    ops = lh.observer.ops(limit=1)
    lh.close()
    assert (ops[0]["mode"], ops[0]["source"], ops[0]["status"]) == ("ask", "mode", "completed")


def test_ask_prints_the_answer_its_sources_and_a_warning_for_an_invented_id(ask_home, fake_llm, monkeypatch):
    set_judge_env(monkeypatch, fake_llm)
    fake_llm.reply = cite_invented
    result = invoke_cli("ask", XRAY, "--corpus", "health", "--filter", "group=29-2")
    first = source_ids(fake_llm.requests[0]["body"])[0]
    # brackets are printed as text, not swallowed as rich markup
    assert result.stdout.startswith(f"Radiographers do [{first}], as do nuclear imaging aides [{INVENTED}].\n")
    assert "Sources" in result.stdout and f"  [{first}] " in result.stdout and "(health)" in result.stdout
    assert f"warning: cites ids that are not among the hits: {INVENTED}" in result.stderr
    assert "answered by openai/fake-model from" in result.stderr


def test_ask_without_a_relevant_hit_says_so_and_sends_nothing(ask_home, fake_llm, monkeypatch):
    set_judge_env(monkeypatch, fake_llm)
    result = invoke_cli("ask", SOURDOUGH, "--corpus", "health")
    assert result.stdout.startswith("No relevant source in health for this question")
    assert "no model was asked: no hit passed the relevance filter" in result.stderr
    assert fake_llm.requests == []


def test_ask_without_a_model_fails_with_the_configure_a_model_error(ask_home, fake_llm):
    result = invoke_cli("ask", XRAY, "--corpus", "health", code=1)
    assert result.stderr.splitlines()[-1].startswith("error: no LLM model is configured: name one (")
    assert fake_llm.requests == []


def test_ask_needs_a_corpus_name(ask_home):
    assert "error: --corpus needs at least one corpus name" in invoke_cli("ask", XRAY, "--corpus", " , ", code=1).stderr
