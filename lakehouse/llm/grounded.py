"""Grounded answers: the prompt that gives a model numbered sources, and the check of what it cites.

A plain library (no search, no model call): `modes/catalog/ask.py` searches, calls the model and
uses these. The model is asked for a JSON object `{"answer", "citations"}`; an answer that is not
that JSON is taken as plain text and its citations are the ids it puts in square brackets. Either
way the citations are checked against the sources the model was given: an id that is not among
them is *invented*, and is reported rather than hidden (the answer is still returned).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from lakehouse.common.text import loads_json
from lakehouse.llm.errors import GroundingError

# A source's text is cut here so that a few long rows cannot push the question out of the context.
SOURCE_TEXT_CHARS = 2000

SYSTEM_PROMPT = """You answer questions using only the numbered sources the user gives you.
Rules:
- Use only facts stated in the sources. Do not use outside knowledge.
- Cite the id of every source you use, in square brackets, like [{example}]. Cite ids exactly as written.
- If the sources do not answer the question, say so plainly and cite nothing.
Reply with one JSON object and nothing else:
{{"answer": "<the answer, with its bracketed ids>", "citations": ["<id of each source used>"]}}"""


@dataclass
class Source:
    """What the model reads of one hit."""

    id: str
    corpus: str
    text: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, hit: Mapping[str, Any]) -> Source:
        return cls(str(hit["id"]), str(hit.get("corpus", "")), hit.get("text") or "", dict(hit.get("metadata") or {}))


# A line of a source's own text that reads like the prompt's structure ("Source 3: id <a real id>",
# "Question: ...") forged a source the model trusted; such a line is marked as the text it is.
_STRUCTURE = re.compile(r"^(\s*)((?:source\s*\d+|sources|question)\s*:)", re.IGNORECASE | re.MULTILINE)


def _as_text(value: str) -> str:
    return _STRUCTURE.sub(r"\1(text) \2", value)


def _source_block(number: int, source: Source) -> str:
    text = source.text if len(source.text) <= SOURCE_TEXT_CHARS else source.text[:SOURCE_TEXT_CHARS] + " …"
    lines = [f"Source {number}: id {source.id} (corpus {source.corpus})"]
    lines += [_as_text(f"{key}: {value}") for key, value in source.metadata.items() if value is not None]
    lines.append(_as_text(text.strip()))
    return "\n".join(line for line in lines if line)


def build_messages(question: str, sources: Sequence[Source]) -> list[dict[str, str]]:
    """The system rules and one user message: the numbered sources, then the question."""
    if not sources:
        raise GroundingError("a grounded prompt needs at least one source")
    blocks = "\n\n".join(_source_block(number, s) for number, s in enumerate(sources, start=1))
    user = f"Sources:\n\n{blocks}\n\nQuestion: {question}"
    return [
        {"role": "system", "content": SYSTEM_PROMPT.format(example=sources[0].id)},
        {"role": "user", "content": user},
    ]


# reading the answer --------------------------------------------------------------------------
# `[id]`; a Markdown link `[text](url)` only when its text is one token with a digit, as ids are
# (`[99-9999.99](http://x)` was a citation nobody checked; `[the docs](url)` is not one)
_BRACKETS = re.compile(r"\[([^\[\]\n]{1,200})\](?!\()|\[([^\[\]\s]*\d[^\[\]\s]*)\]\(")
_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)
_PREFIX = re.compile(r"^(?:id|source)\s*[:#]?\s*", re.IGNORECASE)


@dataclass
class GroundedAnswer:
    answer: str
    citations: list[str]  # every id the answer cites, first mention first, no repeats
    cited: list[str]  # those among the sources
    invented: list[str]  # those not among the sources
    format: Literal["json", "text"]


def _json_object(text: str) -> dict[str, Any] | None:
    """The reply as a JSON object, also inside a ``` fence or with prose around it; else None."""
    fenced = _FENCE.match(text)
    candidates = [fenced.group(1)] if fenced else []
    candidates.append(text)
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            value = loads_json(candidate)  # a reply nested past the recursion limit is not an answer
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get("answer"), str):
            return value
    return None


def _resolve(token: str, ids: Sequence[str]) -> list[str]:
    """One citation token as ids: the id itself, a source number (`2` -> the second source's id,
    since the prompt numbers them), or several ids separated by commas or semicolons."""
    token = token.strip()
    if token in ids:
        return [token]
    token = _PREFIX.sub("", token).strip()
    if token in ids:
        return [token]
    if token.isdigit() and 1 <= int(token) <= len(ids):
        return [ids[int(token) - 1]]
    parts = [p.strip() for p in re.split(r"[;,]", token) if p.strip()]
    if len(parts) > 1:
        return [i for p in parts for i in _resolve(p, ids)]
    return [token] if token else []


def bracket_citations(text: str, ids: Sequence[str]) -> list[str]:
    """The ids cited in square brackets in `text`, resolved against the source ids `ids`."""
    return [i for match in _BRACKETS.finditer(text) for i in _resolve(match.group(1) or match.group(2), ids)]


def _listed_tokens(listed: Any) -> list[str]:
    """The `citations` a model gave, however it shaped them: a list, one string, lists inside lists,
    objects (their values). Each id-like value is checked: nested ones went unchecked before."""
    if isinstance(listed, bool) or listed is None:
        return []
    if isinstance(listed, (str, int)):
        return [str(listed)]
    if isinstance(listed, dict):
        listed = list(listed.values())
    if isinstance(listed, list):
        return [token for item in listed for token in _listed_tokens(item)]
    return []


def read_answer(reply: str, ids: Sequence[str]) -> GroundedAnswer:
    """The answer and its citations from a model's reply, checked against the source ids `ids`.

    JSON replies give their `citations` list plus any bracketed ids in their `answer`; other replies
    are the answer as written, cited by their bracketed ids."""
    obj = _json_object(reply)
    if obj is not None:
        answer = obj["answer"].strip()
        tokens = _listed_tokens(obj.get("citations"))
        found = [i for token in tokens for i in _resolve(token, ids)] + bracket_citations(answer, ids)
        fmt: Literal["json", "text"] = "json"
    else:
        answer = reply.strip()
        found = bracket_citations(answer, ids)
        fmt = "text"
    citations = list(dict.fromkeys(found))
    known = set(ids)
    return GroundedAnswer(
        answer=answer,
        citations=citations,
        cited=[c for c in citations if c in known],
        invented=[c for c in citations if c not in known],
        format=fmt,
    )


def no_relevant_hits(corpora: Sequence[str], searched: int, dropped: int) -> str:
    """The plain answer when no hit is relevant enough to answer from (and no model is asked)."""
    where = ", ".join(corpora)
    why = (
        f"the relevance filter dropped all {dropped} candidate(s)"
        if dropped
        else f"{searched} candidate(s) were found and none passed the filters"
        if searched
        else "nothing was found"
    )
    return (
        f"No relevant source in {where} for this question ({why}), so there is nothing to answer from "
        "and no model was asked."
    )
