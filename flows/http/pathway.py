"""`/v1/pathway/*`: versioned traces (add, import, update, revise, retire, history, search)."""

from __future__ import annotations

from fastapi import APIRouter

from flows.http.calls import mode_route

ACTIONS = {
    "add": "Add a trace",
    "import": "Add many traces idempotently (an entry already in memory is skipped as a duplicate)",
    "update": "Update a trace's text or metadata in place",
    "revise": "Revise a trace: a new version linked to the old",
    "retire": "Retire a trace (excluded from search)",
    "history": "Walk a trace's revise chain backwards",
    "search": "Semantic search over active traces",
}


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v1/pathway", tags=["pathway"])
    for action, summary in ACTIONS.items():
        mode_route(router, f"/{action}", f"pathway.{action}", summary=summary)
    return router
