"""Prompt nodes with `output_schema:` end to end: a real Prefect flow, litellm's real HTTP path and a
local fake model whose answers each test scripts."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from flows.loader import load_workflow_text
from flows.runner import current_lakehouse, run_workflow
from lakehouse.config import reset_settings

pytestmark = pytest.mark.prefect

VERDICT = """
name: contract-verdict
model: fake
nodes:
  - id: judge
    prompt: "Is this a good name for a lakehouse: Lakey?"
    system: "You are a terse judge."
    output_schema:
      type: object
      properties:
        verdict: {type: string, enum: [good, bad]}
        score: {type: number, minimum: 0, maximum: 1}
      required: [verdict, score]
    {retry}
  - id: report
    mode: fixture.echo
    depends_on: [judge]
    with: {value: "the judge says $judge.output.verdict"}
"""


def _workflow(retry: str = ""):
    text = VERDICT.replace("{retry}", retry)
    return load_workflow_text(text, "contract-verdict.yaml", {})


@pytest.fixture
def model(fake_llm, monkeypatch, lh_home):
    tiers = {"fake": {"model": "openai/fake-model", "api_base": fake_llm.url}}
    monkeypatch.setenv("LH_MODELS", json.dumps({"tiers": tiers}))
    reset_settings()
    yield fake_llm
    reset_settings()


def _answers(model, *texts: str) -> None:
    """The fake model answers these texts, one per request, in order."""
    queue: Iterator[str] = iter(texts)
    model.reply = lambda body: next(queue)


def _ops(run_id: str) -> list[tuple[str, int, str, str | None]]:
    ops = current_lakehouse().observer.ops(run_id=run_id)
    return sorted((op["node_id"], op["attempt"], op["status"], op["error"]) for op in ops)


def test_a_matching_answer_is_the_nodes_output_and_its_fields_are_referenced(prefect_server, model):
    _answers(model, '```json\n{"verdict": "good", "score": 0.8}\n```')
    result = run_workflow(_workflow())
    assert result.status == "completed", result.nodes
    assert result.nodes["judge"].output == {"verdict": "good", "score": 0.8}
    assert result.nodes["report"].output == {"value": "the judge says good"}

    system = model.requests[0]["body"]["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith("You are a terse judge.\n\nAnswer with one JSON value only")
    assert '"required":["verdict","score"]' in system["content"]
    assert [(n, a, s) for n, a, s, _ in _ops(result.run_id)] == [("judge", 1, "completed"), ("report", 1, "completed")]


def test_an_answer_that_is_not_json_fails_the_node_with_what_was_wrong(prefect_server, model):
    _answers(model, "Sure! The verdict is good, with a score of 0.8.")
    result = run_workflow(_workflow())
    assert result.status == "failed"
    judge = result.nodes["judge"]
    assert judge.status == "failed" and judge.attempts == 1
    assert judge.error == (
        "OutputContractError: the answer is not JSON (Expecting value at line 1 column 1); "
        "it starts: 'Sure! The verdict is good, with a score of 0.8.'"
    )
    assert result.nodes["report"].status == "skipped" and result.nodes["report"].error == "upstream failed: judge"
    assert _ops(result.run_id) == [
        ("judge", 1, "failed", judge.error),
        ("report", 0, "skipped", "upstream failed: judge"),
    ]


def test_a_schema_violation_is_retried_and_the_next_valid_answer_completes(prefect_server, model):
    _answers(model, '{"verdict": "great", "score": 0.9}', '{"verdict": "good", "score": 0.9}')
    result = run_workflow(_workflow("retry: {max_attempts: 2, delay_s: 0}"))
    assert result.status == "completed", result.nodes
    judge = result.nodes["judge"]
    assert (judge.status, judge.attempts, judge.output) == ("completed", 2, {"verdict": "good", "score": 0.9})
    assert len(model.requests) == 2
    assert _ops(result.run_id) == [
        (
            "judge",
            1,
            "failed",
            "OutputContractError: the answer does not match output_schema at $.verdict: "
            "'great' is not one of ['good', 'bad']",
        ),
        ("judge", 2, "completed", None),
        ("report", 1, "completed", None),
    ]


def test_a_violation_on_every_attempt_fails_the_node_with_the_last_reason(prefect_server, model):
    _answers(model, '{"verdict": "good"}', '{"verdict": "good", "score": 7}')
    result = run_workflow(_workflow("retry: {max_attempts: 2, delay_s: 0}"))
    judge = result.nodes["judge"]
    assert (judge.status, judge.attempts) == ("failed", 2)
    assert judge.error == (
        "OutputContractError: the answer does not match output_schema at $.score: 7 is greater than the maximum of 1"
    )
