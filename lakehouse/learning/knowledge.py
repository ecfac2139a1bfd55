"""The deterministic passes of the knowledge workflow (`workflows/knowledge-extract.yaml`).

The LLM passes (extract, validate, consensus review, red-team) are prompt nodes; everything that can
be checked without a model is here, so its verdicts are reproducible and testable: the claims of
each document collected and numbered, a claim's quote looked up in its source text (the
hallucination check), two consensus passes compared, red-team verdicts applied, the survivors
rendered as Markdown organised by the questions they answer.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from lakehouse.learning.errors import KnowledgeError

ClaimKind = Literal["fact", "entity", "relation"]


class Document(BaseModel):
    id: str
    title: str
    source: str = Field(description="where it came from: a file path or `table:NAME#ID`")
    text: str


class Claim(BaseModel):
    id: str = Field(description="`DOCUMENT:cN`, stable for a given extraction")
    document: str
    kind: ClaimKind = "fact"
    text: str
    quote: str = Field(description="the words of the source the claim rests on")
    question: str = Field(default="", description="the question the claim answers (the rendered section)")
    subject: str | None = None
    predicate: str | None = None
    object: str | None = None
    confidence: int | None = Field(default=None, description="1-10 from the validate pass")
    flags: list[str] = Field(default_factory=list, description="kept, but worth a human look: why")


class Dropped(BaseModel):
    id: str
    reason: str


class PassCounts(BaseModel):
    """What one pass did: every pass's node output carries one (so its ObservedOp does too)."""

    name: str = Field(description="the pass: extract, hallucination_check, consensus#N, red_team")
    kept: int
    dropped: int
    flagged: int


def counts(name: str, kept: list[Claim], dropped: list[Dropped]) -> PassCounts:
    return PassCounts(name=name, kept=len(kept), dropped=len(dropped), flagged=sum(bool(c.flags) for c in kept))


def listing(claims: Iterable[Claim]) -> str:
    """The claims as compact lines for the next prompt (ids first, so a model can answer by id)."""
    lines = []
    for c in claims:
        conf = f" (confidence {c.confidence}/10)" if c.confidence is not None else ""
        lines.append(f'- {c.id} [{c.kind}] {c.text}{conf} | quote: "{c.quote}"')
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- collect
def collect(documents: list[Document], extractions: list[Any]) -> tuple[list[Claim], list[Dropped]]:
    """Number each document's extracted claims (`DOC:c1`, …); an extraction is `{claims: [...]}`
    per document in document order (None where that document's extraction failed). A claim that
    repeats an earlier one of the same document (same kind and text) is dropped."""
    if len(extractions) != len(documents):
        raise KnowledgeError(f"{len(extractions)} extraction(s) for {len(documents)} document(s): one per document")
    kept: list[Claim] = []
    dropped: list[Dropped] = []
    for doc, extraction in zip(documents, extractions, strict=True):
        raw = extraction.get("claims") or [] if isinstance(extraction, Mapping) else []
        seen: set[tuple[str, str]] = set()
        for n, item in enumerate(raw, start=1):
            cid = f"{doc.id}:c{n}"
            if not isinstance(item, Mapping):
                dropped.append(Dropped(id=cid, reason=f"not an object: {item!r}"[:200]))
                continue
            names = ("kind", "text", "quote", "question", "subject", "predicate", "object")
            fields = {k: item[k] for k in names if item.get(k) is not None}
            try:
                claim = Claim.model_validate({"id": cid, "document": doc.id, **fields})
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                dropped.append(Dropped(id=cid, reason=f"malformed claim: {where}: {first['msg']}"))
                continue
            key = (claim.kind, _normalise(claim.text))
            if key in seen:
                dropped.append(Dropped(id=cid, reason="repeats an earlier claim of this document"))
                continue
            seen.add(key)
            kept.append(claim)
    return kept, dropped


# ---------------------------------------------------------------------------------- hallucination check
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"})
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def _normalise(text: str) -> str:
    """Case, Unicode form, curly quotes, dashes, Markdown emphasis and runs of whitespace do not count."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).replace("*", "").replace("_", " ")
    return " ".join(text.casefold().split())


def quote_problem(quote: str, source: str) -> tuple[str | None, str | None]:
    """(why to drop, why to flag) for a quote against its source text; (None, None) when verbatim."""
    if not quote.strip():
        return "no quote: a claim must quote its source", None
    if quote in source:
        return None, None
    if _normalise(quote) and _normalise(quote) in _normalise(source):
        return None, "the quote matches its source only after normalising case, spacing or punctuation"
    return f"quote not found in its source: {quote[:120]!r}", None


def numbers_problem(claim: Claim) -> str | None:
    """A number in the claim's text that its quote does not contain: the claim says more than its evidence."""
    quoted = {n.replace(",", "") for n in _NUMBER.findall(claim.quote)}
    missing = [n for n in _NUMBER.findall(claim.text) if n.replace(",", "") not in quoted]
    return f"number(s) not in the quote: {', '.join(missing)}" if missing else None


def check(
    claims: list[Claim],
    documents: list[Document],
    ratings: list[Any],
    min_confidence: int,
) -> tuple[list[Claim], list[Dropped]]:
    """Each claim's quote must occur in its own document (else dropped: a hallucination); the
    validate pass's confidence (1-10) is attached, and a claim under `min_confidence` is dropped.
    Kept claims are flagged when the quote matched only loosely, a number of the claim is not in
    its quote, or the validate pass did not rate it."""
    texts = {d.id: d.text for d in documents}
    scores: dict[str, int] = {}
    for r in ratings:
        if isinstance(r, Mapping) and isinstance(r.get("id"), str) and isinstance(r.get("confidence"), int):
            scores[r["id"]] = r["confidence"]
    kept: list[Claim] = []
    dropped: list[Dropped] = []
    for claim in claims:
        source = texts.get(claim.document)
        if source is None:
            dropped.append(Dropped(id=claim.id, reason=f"unknown document {claim.document!r}"))
            continue
        drop, flag = quote_problem(claim.quote, source)
        if drop:
            dropped.append(Dropped(id=claim.id, reason=drop))
            continue
        confidence = scores.get(claim.id)
        if confidence is not None and confidence < min_confidence:
            dropped.append(Dropped(id=claim.id, reason=f"confidence {confidence} is under {min_confidence}"))
            continue
        flags = [*claim.flags, *filter(None, [flag, numbers_problem(claim)])]
        if confidence is None:
            flags.append("the validate pass did not rate it")
        kept.append(claim.model_copy(update={"confidence": confidence, "flags": flags}))
    return kept, dropped


# ---------------------------------------------------------------------------------- consensus
def agree(
    claims: list[Claim], keep: list[str], drop: list[Any], previous: list[str] | None
) -> tuple[list[Claim], list[Dropped], list[str], list[str]]:
    """One consensus pass applied: the claims it keeps, the ones it drops (with its reasons; a claim
    it does not mention is dropped too), the ids it named that are not claims, and the claims whose
    verdict changed since the previous pass (all of them for the first pass)."""
    known = {c.id for c in claims}
    kept_ids = set(keep) & known
    reasons = {d["id"]: str(d.get("reason") or "") for d in drop if isinstance(d, Mapping) and "id" in d}
    unknown = sorted((set(keep) | set(reasons)) - known)
    kept = [c for c in claims if c.id in kept_ids]
    dropped = [
        Dropped(id=c.id, reason=reasons.get(c.id) or "not kept by this consensus pass")
        for c in claims
        if c.id not in kept_ids
    ]
    before = set(previous) if previous is not None else None
    changed = sorted(known) if before is None else sorted((kept_ids ^ before) & known)
    return kept, dropped, unknown, changed


# ---------------------------------------------------------------------------------- red-team
def red_team(
    claims: list[Claim], verdicts: list[Any], documents: list[Document]
) -> tuple[list[Claim], list[Dropped], list[str]]:
    """Apply the red-team verdicts: `drop` removes a claim (its attack is the reason), `patch`
    replaces its text (and quote), and the patched claim must pass the quote check again, else it is
    dropped; a claim without a verdict is kept and flagged. Returns kept, dropped, and the attacks
    per claim id as `id: attack` lines for the record."""
    texts = {d.id: d.text for d in documents}
    by_id = {v["id"]: v for v in verdicts if isinstance(v, Mapping) and isinstance(v.get("id"), str)}
    kept: list[Claim] = []
    dropped: list[Dropped] = []
    attacks: list[str] = []
    for claim in claims:
        verdict = by_id.get(claim.id)
        if verdict is None:
            kept.append(claim.model_copy(update={"flags": [*claim.flags, "the red-team pass did not attack it"]}))
            continue
        attack = str(verdict.get("attack") or "").strip()
        if attack:
            attacks.append(f"{claim.id}: {attack}")
        action = verdict.get("action")
        if action == "drop":
            dropped.append(Dropped(id=claim.id, reason=f"red team: {attack or 'dropped'}"))
            continue
        if action == "patch":
            text = str(verdict.get("text") or claim.text)
            quote = str(verdict.get("quote") or claim.quote)
            drop, flag = quote_problem(quote, texts.get(claim.document, ""))
            if drop:
                dropped.append(Dropped(id=claim.id, reason=f"red-team patch refused: {drop}"))
                continue
            patched = claim.model_copy(update={"text": text, "quote": quote})
            flags = [*claim.flags, f"patched by the red team: {attack or 'no reason given'}"]
            number = numbers_problem(patched)
            flags += [f for f in (flag, number) if f and f not in flags]
            kept.append(patched.model_copy(update={"flags": flags}))
            continue
        kept.append(claim)
    return kept, dropped, attacks


# ---------------------------------------------------------------------------------- render
def render(
    title: str,
    claims: list[Claim],
    documents: list[Document],
    passes: list[PassCounts],
    consensus: str | None = None,
) -> tuple[str, list[str]]:
    """A Markdown document: one section per question (in the order first met), each claim with its
    source id, confidence, flags and quote; then the sources and what each pass kept and dropped."""
    questions: dict[str, list[Claim]] = {}
    for claim in claims:
        questions.setdefault(claim.question.strip() or "Other facts", []).append(claim)
    docs = {d.id: d for d in documents}
    out = [f"# {title}", ""]
    if not claims:
        out += ["No claim survived the checks.", ""]
    for question, items in questions.items():
        out += [f"## {question}", ""]
        for c in items:
            conf = f", confidence {c.confidence}/10" if c.confidence is not None else ""
            out.append(f"- {c.text} [{c.document}]{conf}")
            out.append(f"  > {c.quote}")
            out += [f"  - flag: {f}" for f in c.flags]
        out.append("")
    used = [docs[i] for i in dict.fromkeys(c.document for c in claims) if i in docs]
    if used:
        out += ["## Sources", ""]
        out += [f"- [{d.id}] {d.title} ({d.source})" for d in used]
        out.append("")
    out += ["## Passes", "", "| pass | kept | dropped | flagged |", "|---|---|---|---|"]
    out += [f"| {p.name} | {p.kept} | {p.dropped} | {p.flagged} |" for p in passes]
    if consensus:
        out += ["", consensus]
    return "\n".join(out).rstrip() + "\n", list(questions)
