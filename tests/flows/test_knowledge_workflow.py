"""The knowledge workflow (`workflows/knowledge-extract.yaml`) end to end: the shipped documents of
`examples/docs`, a real Prefect flow (the consensus loop over a sub-workflow included), litellm's real
HTTP path to a fake model whose answers depend on which pass asks, the claims table read back
through the `sql.query` mode and the pathway traces through pathway memory."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from flows.loader import load_workflow
from flows.runner import current_lakehouse, run_workflow
from lakehouse.config import reset_settings
from modes.context import ModeContext
from modes.invoke import invoke_mode

pytestmark = pytest.mark.prefect

REPO = Path(__file__).resolve().parents[2]

HEAVY_LICENCE = "The job requires a commercial drivers' license"
HEAVY_WAGE = "In Illinois it employed 84,200 people, and the annual median wage was $60,320."
FORKLIFT = "Industrial truck and tractor operators, such as forklift operators"
FORKLIFT_WAGE = "In Illinois it employed 29,450 people, and the annual median wage was $47,720."
LIGHT_GVW = "with a capacity of less than 26,001 pounds Gross Vehicle Weight (GVW)"
LIGHT_JOBS_LOOSE = "in illinois it employed 47,190 people"  # the source says "In Illinois": flagged, kept
INVENTED = "Drivers must be at least 25 years old to hold the license."  # in no document: dropped

LICENCE_Q = "What licence or vehicle does the job involve?"
WAGE_Q = "What is the annual median wage in Illinois?"
FORKLIFT_Q = "Which occupations operate forklifts?"
JOBS_Q = "How many people does the job employ in Illinois?"


def _claim(text: str, quote: str, question: str, kind: str = "fact", **more: str) -> dict[str, str]:
    return {"kind": kind, "text": text, "quote": quote, "question": question, **more}


EXTRACTIONS = {
    "heavy-truck-drivers": [
        _claim("Heavy and tractor-trailer truck drivers need a commercial drivers' license.", HEAVY_LICENCE, LICENCE_Q),
        _claim("In Illinois the annual median wage of heavy truck drivers was $60,320.", HEAVY_WAGE, WAGE_Q),
        _claim("Heavy truck drivers must be at least 25 years old.", INVENTED, LICENCE_Q),
    ],
    "industrial-truck-operators": [
        _claim(
            "Forklift operators are industrial truck and tractor operators.",
            FORKLIFT,
            FORKLIFT_Q,
            kind="relation",
            subject="forklift operators",
            predicate="are a kind of",
            object="industrial truck and tractor operators",
        ),
        _claim("In Illinois the annual median wage of forklift operators was $47,720.", FORKLIFT_WAGE, WAGE_Q),
    ],
    "light-truck-drivers": [
        _claim("Light truck drivers drive vehicles under 26,001 pounds GVW.", LIGHT_GVW, LICENCE_Q),
        _claim("Light truck drivers held 47,190 jobs in Illinois.", LIGHT_JOBS_LOOSE, JOBS_Q),
    ],
}
# validate: light-truck-drivers:c1 is rated under min_confidence (5), the rest pass
RATINGS = {
    "heavy-truck-drivers:c1": 9,
    "heavy-truck-drivers:c2": 10,
    "heavy-truck-drivers:c3": 2,
    "industrial-truck-operators:c1": 8,
    "industrial-truck-operators:c2": 9,
    "light-truck-drivers:c1": 4,
    "light-truck-drivers:c2": 7,
}
CHECKED = [
    "heavy-truck-drivers:c1",
    "heavy-truck-drivers:c2",
    "industrial-truck-operators:c1",
    "industrial-truck-operators:c2",
    "light-truck-drivers:c2",
]
PATCHED = "Forklift operators are one kind of industrial truck and tractor operator."
WAGE_ATTACK = "The wage is the whole occupation's, not forklift operators' alone."


def _verdicts() -> list[dict[str, str]]:
    verdicts = [{"id": i, "action": "keep", "attack": "The source states it."} for i in CHECKED]
    verdicts[2] = {"id": CHECKED[2], "action": "patch", "attack": "It reads as if every operator drove forklifts.",
                   "text": PATCHED}  # fmt: skip
    verdicts[3] = {"id": CHECKED[3], "action": "drop", "attack": WAGE_ATTACK}
    return verdicts


def _reply(body: dict[str, Any]) -> str:
    """Answer as the pass that asks: each prompt names itself in its first words."""
    prompt = body["messages"][-1]["content"]
    if prompt.startswith("Extract the facts"):
        doc = re.search(r"Document ([a-z-]+):", prompt)
        assert doc, prompt
        return json.dumps({"claims": EXTRACTIONS[doc.group(1)]})
    if prompt.startswith("Rate how well"):
        return json.dumps({"ratings": [{"id": i, "confidence": c, "why": "scripted"} for i, c in RATINGS.items()]})
    if prompt.startswith("Consensus pass 1."):
        # the first pass also keeps an id that is no claim: counted, then ignored
        return json.dumps({"keep": [*CHECKED, "no-such:c9"], "drop": []})
    if prompt.startswith("Consensus pass 2."):
        return "```json\n" + json.dumps({"keep": list(reversed(CHECKED)), "drop": []}) + "\n```"
    if prompt.startswith("Red team"):
        return json.dumps({"verdicts": _verdicts()})
    raise AssertionError(f"unexpected prompt: {prompt[:200]}")


def _op_counts(op: dict[str, Any]) -> dict[str, Any]:
    """A pass's counts as its op recorded them: a long output is summarised to its first characters,
    which hold `counts` (it sorts first)."""
    output = op["output"]
    if not output.get("truncated"):
        return output["counts"]
    found = re.match(r'\{"counts":(\{[^{}]*\})', output["head"])
    assert found, output["head"][:200]
    return json.loads(found.group(1))


@pytest.fixture
def model(fake_llm, monkeypatch, lh_home):
    tiers = {"fake": {"model": "openai/fake-model", "api_base": fake_llm.url}}
    monkeypatch.setenv("LH_MODELS", json.dumps({"default": "fake", "tiers": tiers}))
    monkeypatch.chdir(REPO)  # the workflow's default `documents: examples/docs`, relative as from the CLI
    reset_settings()
    fake_llm.reply = _reply
    yield fake_llm
    reset_settings()


EXPECTED_MARKDOWN = """\
# Trucking occupations

## What licence or vehicle does the job involve?

- Heavy and tractor-trailer truck drivers need a commercial drivers' license. [heavy-truck-drivers], confidence 9/10
  > The job requires a commercial drivers' license

## What is the annual median wage in Illinois?

- In Illinois the annual median wage of heavy truck drivers was $60,320. [heavy-truck-drivers], confidence 10/10
  > In Illinois it employed 84,200 people, and the annual median wage was $60,320.

## Which occupations operate forklifts?

- Forklift operators are one kind of industrial truck and tractor operator. [industrial-truck-operators], confidence 8/10
  > Industrial truck and tractor operators, such as forklift operators
  - flag: patched by the red team: It reads as if every operator drove forklifts.

## How many people does the job employ in Illinois?

- Light truck drivers held 47,190 jobs in Illinois. [light-truck-drivers], confidence 7/10
  > in illinois it employed 47,190 people
  - flag: the quote matches its source only after normalising case, spacing or punctuation

## Sources

- [heavy-truck-drivers] Heavy and Tractor-Trailer Truck Drivers (O*NET-SOC 53-3032.00) (examples/docs/heavy-truck-drivers.md)
- [industrial-truck-operators] Industrial Truck and Tractor Operators (O*NET-SOC 53-7051.00) (examples/docs/industrial-truck-operators.md)
- [light-truck-drivers] Light Truck Drivers (O*NET-SOC 53-3033.00) (examples/docs/light-truck-drivers.md)

## Passes

| pass | kept | dropped | flagged |
|---|---|---|---|
| extract | 7 | 0 | 0 |
| hallucination_check | 5 | 2 | 1 |
| consensus#2 | 5 | 0 | 1 |
| red_team | 4 | 1 | 2 |

Consensus: two passes agreed at pass 2.
"""  # noqa: E501


def test_the_knowledge_workflow_runs_every_pass_and_stores_what_survives(prefect_server, model, lh_home):
    out = lh_home / "knowledge.md"
    loaded = load_workflow("knowledge-extract", {"title": "Trucking occupations", "out": str(out)})
    result = run_workflow(loaded, trusted_paths=True)
    assert result.status == "completed", {k: (v.status, v.error) for k, v in result.nodes.items()}
    nodes = result.nodes

    # extract: one item per document; validate then the hallucination check
    assert nodes["docs"].output["count"] == 3
    assert nodes["extract"].items == {"completed": 3, "failed": 0, "skipped": 0}
    check = nodes["check"].output
    assert [c["id"] for c in check["kept_claims"]] == CHECKED
    assert check["dropped"] == [
        {"id": "heavy-truck-drivers:c3", "reason": f"quote not found in its source: {INVENTED!r}"},
        {"id": "light-truck-drivers:c1", "reason": "confidence 4 is under 5"},
    ]
    assert check["counts"] == {"name": "hallucination_check", "kept": 5, "dropped": 2, "flagged": 1}

    # consensus: the first pass has nothing to agree with, the second keeps the same claims
    consensus = nodes["consensus"]
    assert consensus.iterations == 2
    agree = consensus.output["agree"]
    assert (agree["agreed"], agree["iteration"], agree["keep_ids"], agree["changed"]) == (True, 2, sorted(CHECKED), [])
    consensus_prompts = [p for p in model.prompts() if p.startswith("Consensus pass")]
    assert len(consensus_prompts) == 2
    assert "look\ntwice where you disagree with it: null" in consensus_prompts[0]
    assert json.dumps(sorted(CHECKED), ensure_ascii=False) in consensus_prompts[1]

    # red team: one patched, one dropped; every pass's counts are in its op's output
    store = nodes["store"].output
    assert store["counts"] == {"name": "red_team", "kept": 4, "dropped": 1, "flagged": 2}
    assert store["dropped"] == [{"id": CHECKED[3], "reason": f"red team: {WAGE_ATTACK}"}]
    assert (store["rows"], store["traces_added"], store["table"]) == (4, 4, "knowledge_claims")
    ops = {op["node_id"]: op for op in current_lakehouse().observer.ops(run_id=result.run_id)}
    for node in ("collect", "check", "store"):
        assert ops[node]["status"] == "completed"
        assert _op_counts(ops[node]) == nodes[node].output["counts"]

    # the Markdown, as returned and as written
    render = nodes["render"].output
    assert render["markdown"] == EXPECTED_MARKDOWN
    assert render["questions"] == [
        "What licence or vehicle does the job involve?",
        "What is the annual median wage in Illinois?",
        "Which occupations operate forklifts?",
        "How many people does the job employ in Illinois?",
    ]
    assert render["path"] == str(out) and out.read_text() == EXPECTED_MARKDOWN

    # the claims table, through the sql mode
    ctx = ModeContext.standalone(current_lakehouse())
    rows = invoke_mode(
        "sql.query",
        {"sql": "SELECT claim_id, kind, confidence, text, flags, run_id FROM knowledge_claims ORDER BY claim_id"},
        ctx,
    )["rows"]
    assert rows == [
        ["heavy-truck-drivers:c1", "fact", 9, EXTRACTIONS["heavy-truck-drivers"][0]["text"], "", result.run_id],
        ["heavy-truck-drivers:c2", "fact", 10, EXTRACTIONS["heavy-truck-drivers"][1]["text"], "", result.run_id],
        [
            "industrial-truck-operators:c1",
            "relation",
            8,
            PATCHED,
            "patched by the red team: It reads as if every operator drove forklifts.",
            result.run_id,
        ],
        [
            "light-truck-drivers:c2",
            "fact",
            7,
            "Light truck drivers held 47,190 jobs in Illinois.",
            "the quote matches its source only after normalising case, spacing or punctuation",
            result.run_id,
        ],
    ]

    # the pathway traces: one per surviving claim, findable by its metadata
    traces = current_lakehouse().pathway.traces()
    assert sorted(t.metadata["claim_id"] for t in traces) == sorted(r[0] for r in rows)
    forklift = next(t for t in traces if t.metadata["claim_id"] == "industrial-truck-operators:c1")
    assert (forklift.text, forklift.metadata["question"]) == (PATCHED, FORKLIFT_Q)
