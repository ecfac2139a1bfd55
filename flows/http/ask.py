"""`POST /v1/ask`: a question answered from matrix-search hits only, its citations checked (mode `ask`)."""

from __future__ import annotations

from fastapi import APIRouter

from flows.http.calls import mode_route


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["ask"])
    # The body is the mode's own input model (extra fields refused, a 422 names the field); errors
    # answer by their kind: no model configured 400, provider down 502, unknown corpus 404.
    mode_route(router, "/ask", "ask", summary="Answer a question from search hits only, citing their ids")
    return router
