"""Judges for the playbook-lift test: which of the cold top-K hits is the right answer?

- `labels`: the best-ranked hit whose id is in the query's `expected` list; when none of the top K
  hits is expected, the first expected id anyway (rank None): the label is ground truth, as a
  coordinator's rating would be, so every labelled query is recorded.
- a model name (tier or provider-prefixed): the model reads the query and the numbered hits and
  answers with JSON `{"pick": N, "score": S, "reason": "..."}`; `pick` 0 means nothing fits.

Nothing acceptable is an out-of-domain query; an answer that cannot be read is a judge error
(counted apart, never silently turned into a pick or into out-of-domain).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lakehouse.learning.errors import LiftError

RUBRIC = """You judge search results for a staffing agency. A recruiter typed a job title or a \
short request; the search returned numbered occupations. Pick the ONE occupation a recruiter \
would file this request under.

Rules:
- Judge by the work done, not by shared words.
- If none of the candidates is the occupation asked for (or the request is not a job), answer \
pick 0.
- score: how sure you are that the pick is right, from 0.1 (a guess) to 1.0 (certain).

Answer with JSON only: {"pick": <number>, "score": <number>, "reason": "<a few words>"}"""

HIT_TEXT_CHARS = 300


@dataclass
class Pick:
    corpus: str
    id: str
    rank: int | None  # 1-based rank among the cold hits; None: not among them (a label taken as truth)
    score: float  # recorded as the playbook score (0, 1]
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"corpus": self.corpus, "id": self.id, "rank": self.rank, "score": self.score, "reason": self.reason}


@dataclass
class Verdict:
    pick: Pick | None  # None and no error: nothing acceptable (out-of-domain)
    error: str | None = None


class Judge(Protocol):
    name: str

    def judge(self, query: str, expected: list[str] | None, hits: Sequence[Any]) -> Verdict: ...


class LabelsJudge:
    """The best-ranked expected id; when no expected id is among the hits, the first expected id
    anyway (rank None), in the corpus `locate` names (the lift run sets it); a query without
    labels has nothing acceptable."""

    name = "labels"

    def __init__(self, locate: Callable[[str], str | None] | None = None) -> None:
        self.locate = locate  # expected id -> the corpus holding it (None: not held)

    def judge(self, query: str, expected: list[str] | None, hits: Sequence[Any]) -> Verdict:
        wanted = set(expected or [])
        for rank, hit in enumerate(hits, start=1):
            if hit.id in wanted:
                return Verdict(Pick(hit.corpus, hit.id, rank, 1.0, "expected id"))
        for answer in expected or []:
            corpus = self.locate(answer) if self.locate is not None else (hits[0].corpus if hits else None)
            if corpus is not None:
                return Verdict(Pick(corpus, answer, None, 1.0, "expected id, not among the top K hits"))
        return Verdict(None)


def _candidates(hits: Sequence[Any]) -> str:
    lines = []
    for number, hit in enumerate(hits, start=1):
        text = " ".join(hit.text.split())[:HIT_TEXT_CHARS]
        lines.append(f"{number}. [{hit.corpus}:{hit.id}] {text}")
    return "\n".join(lines)


_JSON_OBJECT = re.compile(r"\{.*?\}", re.DOTALL)


def parse_answer(text: str, count: int) -> tuple[int, float, str]:
    """(pick, score, reason) from a model answer; raises ValueError naming what is wrong."""
    data = None
    for match in _JSON_OBJECT.finditer(text or ""):
        try:
            candidate = json.loads(match.group(0))
        except json.JSONDecodeError:
            continue
        if isinstance(candidate, dict) and "pick" in candidate:
            data = candidate
            break
    if data is None:
        raise LiftError(f"no JSON object with a 'pick' in the answer {text[:120]!r}")
    try:
        pick = int(data["pick"])
        score = float(data.get("score", 1.0))
    except (TypeError, ValueError):
        raise LiftError(f"'pick' must be a whole number and 'score' a number, got {data!r}") from None
    if not 0 <= pick <= count:
        raise LiftError(f"'pick' {pick} is outside 0..{count}")
    return pick, min(1.0, score), str(data.get("reason", ""))[:200]


class ModelJudge:
    """An LLM judge through `Lakehouse.chat` (litellm); `model` is a tier or provider/model name."""

    def __init__(self, chat, model: str, rubric: str = RUBRIC, timeout_s: float = 120.0) -> None:
        self.chat = chat
        self.name = model
        self.rubric = rubric
        self.timeout_s = timeout_s
        chat.resolve(model)  # an unknown or unconfigured model fails before any search

    def judge(self, query: str, expected: list[str] | None, hits: Sequence[Any]) -> Verdict:
        if not hits:
            return Verdict(None)
        messages = [
            {"role": "system", "content": self.rubric},
            {"role": "user", "content": f"Request: {query}\n\nCandidates:\n{_candidates(hits)}"},
        ]
        result = self.chat.complete(messages, self.name, timeout_s=self.timeout_s)
        try:
            pick, score, reason = parse_answer(result.content, len(hits))
        except ValueError as exc:
            return Verdict(None, f"judge {self.name}: {exc}")
        if pick == 0 or score <= 0:
            return Verdict(None)
        hit = hits[pick - 1]
        return Verdict(Pick(hit.corpus, hit.id, pick, score, reason))


def make_judge(spec: str, lakehouse) -> Judge:
    """`labels`, or a model name for an LLM judge."""
    spec = (spec or "").strip()
    if not spec:
        raise LiftError("judge: give `labels` or a model name (a tier like local_judge, or provider/model)")
    if spec == "labels":
        return LabelsJudge()
    return ModelJudge(lakehouse.chat, spec)
