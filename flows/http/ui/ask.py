"""Console page /ui/ask: a question answered from search hits only, with the hits it cites.

The answer comes from mode `ask` (through `invoke_mode`, source `ui`), as `POST /v1/ask` gives it:
the cited hits, and any cited id that is not among the hits flagged as invented. A question with
no relevant hit is answered without asking a model, and the page says so; with no model
configured the page says that on arrival, with the configuration error's own words.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from flows.http.calls import lakehouse_of
from flows.http.ui import render
from flows.http.ui.search import Problem, check_choice, corpus_choices, parse_filter, parse_top, run_mode
from flows.http.ui.session import verify_csrf
from lakehouse.errors import LakehouseError
from lakehouse.llm.errors import ChatNotConfigured
from modes.catalog.ask import JUDGE_TIER

router = APIRouter()


def model_problem(request: Request) -> str | None:
    """Why no model can answer (the configuration error's text), or None when one is configured."""
    models = lakehouse_of(request).settings.models
    name = JUDGE_TIER if JUDGE_TIER in models.tiers else models.default
    try:
        lakehouse_of(request).chat.resolve(name)
    except ChatNotConfigured as exc:
        return str(exc)
    except LakehouseError:  # anything else (an unknown tier, a missing key) the answer reports, named
        return None
    return None


def _page(request: Request, choices: list, selected: list[str], **answered: Any) -> HTMLResponse:
    """The whole Ask page; after a form post without script, with the answer and the question kept."""
    return render(
        request,
        "ask.html",
        active="ask",
        title="Ask",
        choices=choices,
        selected=selected,
        no_model=model_problem(request),
        **answered,
    )


@router.get("/ui/ask")
def page(request: Request) -> HTMLResponse:
    choices = corpus_choices(request)
    return _page(request, choices, [c.name for c in choices])


@router.post("/ui/ask", dependencies=[Depends(verify_csrf)])
async def answer(request: Request) -> HTMLResponse:
    """The answer region: the grounded answer, or the problems naming each control to fix."""
    form = await request.form()
    question = str(form.get("question", "")).strip()
    corpora = list(dict.fromkeys(str(c).strip() for c in form.getlist("corpus") if str(c).strip()))
    problems: list[Problem] = []
    if not question:
        problems.append(("Question", "type a question"))
    if not corpora:
        problems.append(("Corpora", "choose at least one corpus"))
    top, top_problem = parse_top(str(form.get("top", "")).strip(), default=None)
    if top_problem:
        problems.append(("Top N", top_problem))
    filt, filter_problem = parse_filter(str(form.get("filter", "")))
    if filter_problem:
        problems.append(("Metadata filter", filter_problem))
    choices = corpus_choices(request)
    problems += check_choice(corpora, filt, choices)
    out: dict[str, Any] | None = None
    if not problems:
        payload: dict[str, Any] = {"question": question, "corpora": corpora}
        payload |= ({"top_n": top} if top else {}) | ({"filter": filt} if filt else {})
        # a worker thread, as FastAPI runs a sync route: the mode blocks on the search and the model
        out, problems, _status = await run_in_threadpool(run_mode, request, "ask", payload)
    if request.headers.get("hx-request") == "true":
        return render(request, "ask_answer.html", out=out, problems=problems)
    # without script the form posts here as a page: answer it as the page, the question kept
    return _page(request, choices, corpora, out=out, problems=problems, question=question)
