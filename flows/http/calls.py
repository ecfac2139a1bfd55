"""Direct mode calls from HTTP: in-process, through `invoke_mode`, recorded with `source: http`.

`mode_route` publishes one mode as one endpoint whose request body is the mode's own input model,
so `/docs` shows the real schema and FastAPI's validation names the wrong field. A mode that is
not registered (yet) still gets its endpoint, taking any JSON object; calling it answers 404.
"""

# No `from __future__ import annotations` here: a route's body annotation must be the mode's real
# input model class, which FastAPI cannot resolve from a string naming a local variable.
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio.from_thread
from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from flows.http.errors import ApiError, validation_details
from lakehouse.core import Lakehouse
from lakehouse.data.sql.workers import CALLER_GONE
from modes.context import ModeContext
from modes.invoke import invoke_mode
from modes.registry import UnknownModeError, get_mode


def lakehouse_of(request: Request) -> Lakehouse:
    return request.app.state.lakehouse


def call_mode(request: Request, name: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Run mode `name` for this request; a bad payload is a 422 naming the field. The output is
    already JSON-ready (`model_dump(mode="json")`), so routes answer it as a JSONResponse and skip
    FastAPI's re-encoding."""
    spec = get_mode(name)
    ctx = ModeContext(lakehouse=lakehouse_of(request), source="http", trusted_paths=False)  # never the caller's files
    try:
        with until_client_leaves(request):
            return invoke_mode(name, payload, ctx)
    except ValidationError as exc:
        if exc.title != spec.input_model.__name__:
            raise  # the mode's output or internals, not the caller's input: a bug
        message, fields = validation_details(exc.errors(), spec.input_model, strip=())
        raise ApiError(422, "invalid_request", f"{name}: {message}", {"mode": name, "fields": fields}) from None


@contextmanager
def until_client_leaves(request: Request) -> Iterator[None]:
    """A SQL query run inside stops when this request's client closes its connection: left running
    for nobody, it held a worker to the time limit (two impatient clients blocked every query)."""

    def gone() -> bool:
        try:
            return anyio.from_thread.run(request.is_disconnected)
        except RuntimeError:  # not on one of the server's worker threads: it cannot be asked
            return False

    token = CALLER_GONE.set(gone)
    try:
        yield
    finally:
        CALLER_GONE.reset(token)


def _input_model(name: str) -> type[BaseModel] | None:
    """The mode's input model as an HTTP body (text limits and one-of rules in its schema)."""
    from flows.http.limits import http_model

    try:
        return http_model(get_mode(name).input_model)
    except UnknownModeError:
        return None


def mode_route(
    router: APIRouter,
    path: str,
    name: str,
    *,
    summary: str,
) -> None:
    """POST `path` runs mode `name` with the request body as its input and answers its output."""
    model = _input_model(name)
    endpoint: Callable[..., JSONResponse]

    if model is not None:
        # the annotation is a class known only at run time, which FastAPI reads and mypy cannot
        def model_endpoint(request: Request, body: model = Body(...)) -> JSONResponse:  # type: ignore[valid-type]
            checked: BaseModel = body
            payload = checked.model_dump(mode="json", exclude_unset=True, by_alias=True)
            return JSONResponse(call_mode(request, name, payload))

        endpoint = model_endpoint
    else:

        def any_endpoint(request: Request, body: dict[str, Any] = Body(...)) -> JSONResponse:
            return JSONResponse(call_mode(request, name, body))

        endpoint = any_endpoint

    endpoint.__name__ = "mode_" + name.replace(".", "_")
    spec = get_mode(name) if model is not None else None
    router.add_api_route(
        path,
        endpoint,
        methods=["POST"],
        summary=summary,
        description=f"Runs mode `{name}` in-process (recorded as an ObservedOp with source `http`). "
        f"{spec.description if spec else ''}",
        # documents the answer's schema; the output was already validated by the mode
        responses={200: {"model": spec.output_model}} if spec else None,
    )
