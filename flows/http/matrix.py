"""`/v1/matrix/*`: multi-corpus search, relevance filtering, corpora, playbooks (one and bulk)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from flows.http.calls import call_mode, lakehouse_of, mode_route


class BulkPlaybooksIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entries: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=10_000,
        description="each {query, answer, corpus, score[, ts][, id]}; each succeeds or fails alone; an entry "
        "already recorded (same id, else same content) is skipped as a duplicate",
    )


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v1/matrix", tags=["matrix"])
    mode_route(router, "/search", "matrix.search", summary="Search several corpora at once")
    mode_route(router, "/relevance", "matrix.relevance", summary="Keep the hits relevant to a query")
    mode_route(router, "/playbooks", "playbook.record", summary="Record a judged match (a playbook)")

    @router.post("/playbooks/bulk", summary="Record many playbooks; one bad entry never aborts the batch")
    def record_bulk(request: Request, body: BulkPlaybooksIn) -> dict[str, Any]:
        """Answers `{recorded, skipped, failed, results: [{index, id | error, status?}]}` (mode
        `playbook.record`). Idempotent: re-sending a batch (after a timeout, say) stores nothing twice."""
        return call_mode(request, "playbook.record", {"entries": body.entries})

    @router.get("/corpora", summary="The corpora and their manifests")
    def list_corpora(request: Request) -> dict[str, Any]:
        corpora = lakehouse_of(request).corpora.list()
        return {"corpora": corpora, "count": len(corpora)}

    return router
