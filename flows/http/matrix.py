"""`/v1/matrix/*`: multi-corpus search, relevance filtering, corpora, playbooks (one and bulk)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from flows.http.calls import lakehouse_of, mode_route


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v1/matrix", tags=["matrix"])
    mode_route(router, "/search", "matrix.search", summary="Search several corpora at once")
    mode_route(router, "/relevance", "matrix.relevance", summary="Keep the hits relevant to a query")
    mode_route(router, "/playbooks", "playbook.record", summary="Record a judged match (a playbook)")
    mode_route(router, "/playbooks/bulk", "playbook.record_bulk",
               summary="Record many playbooks; one bad entry never aborts the batch")

    @router.get("/corpora", summary="The corpora and their manifests")
    def list_corpora(request: Request) -> dict[str, Any]:
        corpora = lakehouse_of(request).corpora.list()
        return {"corpora": corpora, "count": len(corpora)}

    return router
