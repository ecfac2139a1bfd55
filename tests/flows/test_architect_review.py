"""The shipped Archon proof runs end to end through litellm's real HTTP path to a local fake server."""

from __future__ import annotations

import json

import pytest

from flows.loader import load_workflow
from flows.runner import current_lakehouse, run_workflow
from lakehouse.config import reset_settings

pytestmark = pytest.mark.prefect


@pytest.fixture
def judge_tier(fake_llm, monkeypatch, lh_home):
    tiers = {"local_judge": {"model": "openai/fake-model", "api_base": fake_llm.url}}
    monkeypatch.setenv("LH_MODELS", json.dumps({"tiers": tiers}))
    reset_settings()
    yield fake_llm
    reset_settings()


def test_architect_review_chains_each_answer_into_the_next_prompt(prefect_server, judge_tier):
    result = run_workflow(load_workflow("lakehouse-architect-review"), {"system": "a tiny lakehouse"})
    assert result.status == "completed", result.nodes
    shape, weakness, improvement = (result.nodes[n].output for n in ("shape", "weakness", "improvement"))
    prompts = judge_tier.prompts()
    assert len(prompts) == 3
    assert "a tiny lakehouse" in prompts[0]
    assert shape["text"] in prompts[1], "weakness did not receive shape's answer"
    assert weakness["text"] in prompts[2], "improvement did not receive weakness's answer"
    assert improvement["text"] == f"answer to: {prompts[2]}"
    first = judge_tier.requests[0]["body"]
    assert first["messages"][0]["role"] == "system"
    assert first["model"] == "fake-model"
    assert "temperature" not in first, "temperature must only be sent when set"
    ops = [o for o in current_lakehouse().observer.ops(run_id=result.run_id)]
    assert {o["node_id"]: o["model"] for o in ops} == {
        n: "openai/fake-model" for n in ("shape", "weakness", "improvement")
    }
    assert all(o["tokens"] and o["tokens"] > 0 for o in ops)


def test_llm_node_without_a_model_fails_with_a_clear_error(prefect_server, lh_home):
    from flows.loader import load_workflow_text

    text = "name: no-model\nnodes:\n  - {id: ask, prompt: 'hello'}\n"
    result = run_workflow(load_workflow_text(text, "no-model.yaml", {}))
    assert result.status == "failed"
    assert "no LLM model is configured" in result.nodes["ask"].error
