"""`/v1/modes`: the mode catalog, and any mode called by name (the same power a submitted workflow
has, so it needs no extra trust)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request

from flows.http.calls import call_mode
from modes.registry import all_modes

router = APIRouter(prefix="/v1/modes", tags=["modes"])


@router.get("", summary="Every registered mode with its input and output schema")
def list_modes() -> dict[str, Any]:
    modes = [
        {
            "name": spec.name,
            "description": spec.description,
            "input_schema": spec.input_model.model_json_schema(),
            "output_schema": spec.output_model.model_json_schema(),
        }
        for spec in all_modes().values()
    ]
    return {"modes": modes, "count": len(modes)}


@router.post("/{name}", summary="Run one mode by name (in-process, recorded with source `http`)")
def run_mode(
    request: Request, name: str, body: dict[str, Any] = Body(..., description="the mode's input")
) -> dict[str, Any]:
    return call_mode(request, name, body)
