"""`/v1/chat` (OpenAI-style messages through the LLM dispatcher) and `/v1/chat/providers`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from flows.http.calls import lakehouse_of, mode_route


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v1/chat", tags=["chat"])
    mode_route(router, "", "llm.chat", summary="Chat with a model tier or a provider-prefixed model")

    @router.get("/providers", summary="Configured model tiers, whether each is ready, the api_base allowlist")
    def providers(request: Request) -> dict[str, Any]:
        """Never shows a key: only where each tier's key comes from and whether it is usable."""
        return lakehouse_of(request).chat.providers()

    return router
