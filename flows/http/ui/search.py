"""Console page /ui/search: matrix search across corpora, each hit rated in place.

The form is a GET, so the URL is the search (bookmark it, reload it, send it); HTMX fetches that
same URL and swaps in only the results, pushing the URL into the history. A rating posts to
`/ui/search/rate` and swaps the hit's rating cell. Both run modes (`matrix.search`,
`matrix.feedback`) through `invoke_mode` with source `ui`, exactly as `/v1/matrix/search` and
`lakehouse rate` do, so every click is an ObservedOp, and every rating a playbook entry plus an
evidence record.

"This is the one" is a placement, as an imported placements file records it: a good rating (the
strongest verdict the rating model has: playbook score +1, evidence judge score 1.0) noted as the
pick. Recorded for the very query, it comes back on top of that search (playbook memory).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from flows.http.calls import lakehouse_of
from flows.http.limits import http_model
from flows.http.ui import render
from flows.http.ui.session import verify_csrf
from lakehouse.common.suggest import did_you_mean
from lakehouse.common.text import loads_json
from lakehouse.common.validation import validation_problems
from lakehouse.errors import LakehouseError, http_status
from lakehouse.llm.errors import ChatError
from lakehouse.search.errors import CorpusNotFound, FilterError
from lakehouse.search.filters import parse_pairs
from modes.context import ModeContext
from modes.invoke import invoke_mode
from modes.registry import get_mode

router = APIRouter()

DEFAULT_TOP = 8
MAX_TOP = 1000
PICK_NOTE = "this is the one"
# what each rating button records, and how the row then reads
VERDICTS = {
    "good": ("good", None, "rated good ✓"),
    "bad": ("bad", None, "rated wrong ✗"),
    "pick": ("good", PICK_NOTE, "this is the one ✓"),
}
# mode input fields as the form labels them, so a problem names the control to fix
LABELS = {
    "query": "Query",
    "question": "Question",
    "corpora": "Corpora",
    "top_n": "Top N",
    "filter": "Metadata filter",
    "where": "SQL pre-filter",
}

ERROR_LABELS = ((CorpusNotFound, "Corpora"), (ChatError, "Model"))
Problem = tuple[str, str]  # (control label, what is wrong)


def ui_context(request: Request) -> ModeContext:
    """A mode call from the console: recorded with source `ui`; paths are never the caller's to name."""
    return ModeContext(lakehouse=lakehouse_of(request), source="ui", trusted_paths=False)


@dataclass
class CorpusChoice:
    name: str
    count: int
    metadata: list[str]
    problem: str | None = None  # why it cannot be searched (a damaged manifest): the others still can


def corpus_choices(request: Request) -> list[CorpusChoice]:
    """Every corpus with its size and its metadata keys (what a filter can match), or why it cannot
    be read: one damaged corpus must not take the page from the others."""
    corpora = lakehouse_of(request).corpora
    choices = []
    for name in corpora.names():
        try:
            manifest = corpora.manifest(name)
        except CorpusNotFound:  # dropped while we listed
            continue
        except LakehouseError as exc:
            choices.append(CorpusChoice(name, 0, [], problem=str(exc)))
            continue
        choices.append(CorpusChoice(name, manifest.count, list(manifest.source.metadata_cols)))
    return choices


def parse_filter(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """`key=value; key=value` (read as the CLI reads repeated `--filter`s: a repeated key is OR, a
    value that reads as JSON keeps its type) or a JSON object; (the filter, or why it cannot be read)."""
    text = text.strip()
    if not text:
        return None, None
    if text.startswith("{"):
        try:
            value = loads_json(text)
        except json.JSONDecodeError as exc:
            return None, f"not valid JSON ({exc.msg} at character {exc.pos + 1})"
        if not isinstance(value, dict) or not value:
            return None, 'expected a JSON object such as {"group": "29-2"}'
        return value, None
    try:
        return parse_pairs((part for part in text.replace("\n", ";").split(";") if part.strip()), flag=""), None
    except FilterError as exc:
        return None, f"{exc}; separate pairs with ;"


def check_choice(selected: list[str], filt: dict[str, Any] | None, choices: list[CorpusChoice]) -> list[Problem]:
    """Unknown corpora, and filter keys no chosen corpus has (such a filter would drop every hit)."""
    known = {c.name: c for c in choices}
    problems: list[Problem] = []
    for name in selected:
        if name not in known:
            hint = did_you_mean(name, known) or (f" (corpora: {', '.join(known)})" if known else "")
            problems.append(("Corpora", f"no corpus named {name!r}{hint}"))
        elif known[name].problem:
            problems.append(("Corpora", f"corpus {name!r} cannot be searched: {known[name].problem}"))
    keys = {key for name in selected if name in known for key in known[name].metadata}
    chosen = [name for name in selected if name in known]
    for key in filt or {}:
        if chosen and key not in keys:
            have = f"its metadata keys: {', '.join(sorted(keys))}" if keys else "they have no metadata keys"
            problems.append(("Metadata filter", f"{', '.join(chosen)} has no metadata key {key!r} ({have})"))
    return problems


def run_mode(request: Request, name: str, payload: dict[str, Any]) -> tuple[dict[str, Any] | None, list[Problem], int]:
    """(output, problems, status): the mode's input checked as `/v1` checks it (text limits too),
    then run with source `ui`; a Lakehouse error becomes a problem with its HTTP status."""
    try:
        http_model(get_mode(name).input_model).model_validate(payload)
        return invoke_mode(name, payload, ui_context(request)), [], 200
    except ValidationError as exc:
        return None, [(LABELS.get(f.split(".")[0], f), p) for f, p in validation_problems(exc)], 422
    except LakehouseError as exc:
        message = str(exc)
        label = next((name for cls, name in ERROR_LABELS if isinstance(exc, cls)), "")
        if message.startswith("--where "):  # the source table's SQL condition (CLI wording)
            label, message = LABELS["where"], message.removeprefix("--where ")
        return None, [(label, message)], http_status(exc)


@dataclass
class SearchForm:
    query: str = ""
    corpora: list[str] = field(default_factory=list)
    top: str = ""
    filter: str = ""
    where: str = ""
    all_hits: bool = False  # "show every hit": the relevance filter off

    @classmethod
    def of(cls, request: Request) -> SearchForm:
        params = request.query_params
        return cls(
            query=params.get("q", "").strip(),
            corpora=list(dict.fromkeys(c.strip() for c in params.getlist("corpus") if c.strip())),
            top=params.get("top", "").strip(),
            filter=params.get("filter", "").strip(),
            where=params.get("where", "").strip(),
            all_hits=params.get("all") == "on",
        )


def parse_top(text: str, default: int | None = DEFAULT_TOP) -> tuple[int | None, str | None]:
    if not text:
        return default, None
    try:
        top = int(text)
    except ValueError:
        return None, f"{text!r} is not a whole number"
    if not 1 <= top <= MAX_TOP:
        return None, f"must be between 1 and {MAX_TOP}, got {top}"
    return top, None


def search(request: Request, form: SearchForm, choices: list[CorpusChoice]) -> dict[str, Any]:
    """The results region's context: the result, or the problems naming each control to fix."""
    problems: list[Problem] = []
    if not form.query:
        problems.append(("Query", "type what to search for"))
    if not form.corpora:
        problems.append(("Corpora", "choose at least one corpus"))
    top, top_problem = parse_top(form.top)
    if top_problem:
        problems.append(("Top N", top_problem))
    filt, filter_problem = parse_filter(form.filter)
    if filter_problem:
        problems.append(("Metadata filter", filter_problem))
    problems += check_choice(form.corpora, filt, choices)
    if problems:
        return {"problems": problems, "status": 400}
    payload: dict[str, Any] = {"query": form.query, "corpora": form.corpora, "top_n": top, "explain": True}
    payload |= {"filter": filt} if filt else {}
    payload |= {"where": form.where} if form.where else {}
    payload |= {"relevance": False} if form.all_hits else {}
    result, problems, status = run_mode(request, "matrix.search", payload)
    return {"result": result, "problems": problems, "status": status}


def _is_fragment(request: Request) -> bool:
    """An HTMX swap wants the results only; a history restore (and any plain load) the whole page."""
    headers = request.headers
    return headers.get("hx-request") == "true" and headers.get("hx-history-restore-request") != "true"


@router.get("/ui/search")
def page(request: Request) -> HTMLResponse:
    form = SearchForm.of(request)
    choices = corpus_choices(request)
    searched = "q" in request.query_params  # the form always sends it: a bare /ui/search is a first visit
    outcome: dict[str, Any] = search(request, form, choices) if searched else {"status": 200}
    if not searched and not form.corpora:
        form.corpora = [c.name for c in choices]  # a first visit offers every corpus
    context = {"form": form, "choices": choices, "default_top": DEFAULT_TOP, **outcome}
    fragment = _is_fragment(request)
    # an HTMX swap is answered 200 so htmx swaps the message in; a plain load keeps the real status
    response = render(
        request,
        "search_results.html" if fragment else "search.html",
        active="search",
        title="Search",
        status_code=200 if fragment else outcome["status"],
        **context,
    )
    response.headers["Vary"] = "HX-Request"
    return response


@router.post("/ui/search/rate", dependencies=[Depends(verify_csrf)])
def rate(
    request: Request,
    query: str = Form(""),
    corpus: str = Form(""),
    id: str = Form(""),
    verdict: str = Form(""),
) -> HTMLResponse:
    """Record one rating (`matrix.feedback`, source `ui`) and answer the hit's new rating cell."""
    context: dict[str, Any] = {"query": query, "corpus": corpus, "id": id, "verdict": verdict}
    if verdict not in VERDICTS:
        problems: list[Problem] = [("", f"unknown rating {verdict!r} (good, bad or pick)")]
        return render(request, "search_rated.html", problems=problems, **context)
    value, note, done = VERDICTS[verdict]
    payload = {"query": query, "corpus": corpus, "id": id, "verdict": value} | ({"note": note} if note else {})
    out, problems, _status = run_mode(request, "matrix.feedback", payload)
    return render(request, "search_rated.html", out=out, problems=problems, done=done, **context)
