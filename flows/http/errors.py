"""One error shape for every 4xx/5xx: `{"error": {"type", "message", "details"}}`.

A `LakehouseError` answers with the status, `type` and message its kind gives (`lakehouse.errors`:
user error 400, not found 404, conflict 409, unavailable 503, or the class's finer `http_code`, e.g.
403 for a refused api_base, 502 for a provider failure), in this one place; its `fields` are the
details. An internal error, and anything else, is a 500 whose body names only an error id, never the
exception text, so no secret can leak. (A non-Lakehouse exception class of our own packages keeps
the old fallback: a `LookupError` is a 404, a `ValueError` a 400, a `PermissionError` a 403.)
"""

from __future__ import annotations

import asyncio
import logging
import traceback
import typing
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from lakehouse.common.secrets import scrub
from lakehouse.common.suggest import close_matches, hint
from lakehouse.common.validation import problem_text
from lakehouse.errors import ErrorKind, LakehouseError, error_type, http_status

log = logging.getLogger("lakehouse.http")

_OUR_PACKAGES = ("lakehouse.", "modes.", "flows.")
_STATUS_TYPES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    500: "internal_error",
    502: "provider_error",
    503: "unavailable",
}
_KIND_OF_STATUS = {
    404: ErrorKind.NOT_FOUND,
    409: ErrorKind.CONFLICT,
    500: ErrorKind.INTERNAL,
    503: ErrorKind.UNAVAILABLE,
}


class ApiError(LakehouseError):
    """An error answer chosen by an endpoint: its status, type and details are given, not derived."""

    type: str  # always given, never derived from the class name

    def __init__(self, status: int, type_: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.details = self.fields = details if details is not None else {}
        self.status = self.http_code = status
        self.type = type_
        self.kind = _KIND_OF_STATUS.get(status, ErrorKind.UNAVAILABLE if status > 500 else ErrorKind.USER)


MESSAGE_MAX_CHARS = 8_192  # an error message is cut here: a huge input is never echoed back whole
DETAIL_TEXT_MAX_CHARS = 1_024  # each string in `details` likewise


def _cap(text: str, limit: int) -> str:
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")  # never a lone surrogate
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def _cap_details(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return _cap(value, DETAIL_TEXT_MAX_CHARS)
    if depth > 8:
        return None
    if isinstance(value, dict):
        return {_cap(str(k), DETAIL_TEXT_MAX_CHARS): _cap_details(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_cap_details(v, depth + 1) for v in value[:1000]]
    return value


def error_body(type_: str, message: str, details: Any = None) -> dict[str, Any]:
    return {
        "error": {
            "type": type_,
            "message": _cap(message, MESSAGE_MAX_CHARS),
            "details": _cap_details(details) if details is not None else {},
        }
    }


class ErrorInfo(BaseModel):
    type: str = Field(description="a stable machine-readable kind, e.g. `invalid_request`, `not_found`")
    message: str = Field(description="what is wrong and where, for people")
    details: dict[str, Any] = Field(
        description="structured context: `fields` (each with `field`, a JSON path like `entries[0].query`), "
        "`error_id` (500: the id in the server log), ..."
    )


class ErrorEnvelope(BaseModel):
    """Every 4xx/5xx answer."""

    error: ErrorInfo


_STATUS_TEXT = {
    400: "Bad request: malformed JSON, an unreadable Content-Length, or input the mode refuses",
    401: "Missing or invalid bearer token",
    403: "Client address not allowed, or an api_base outside what is allowed",
    404: "Not found (mode, run, workflow, corpus, trace, ...)",
    409: "Conflict: the thing exists already, or another writer won",
    413: "Request body larger than LH_API_MAX_BODY_BYTES",
    415: "The body must be JSON (Content-Type: application/json)",
    422: "Invalid request: each wrong field is named in `details.fields`",
    429: "Too many workflow runs already wait to start: try again once one has started",
    500: "Internal error: the body names an `error_id` that is in the server log",
    502: "The model provider failed",
    503: "A dependency is unavailable (object store, embedding model)",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these status codes, all with the error envelope."""
    return {code: {"model": ErrorEnvelope, "description": _STATUS_TEXT.get(code, "Error")} for code in codes}


_NO_MODE = frozenset({"/v1/observer/event"})  # POST routes that run no mode and look nothing up


def declare_error_responses(app: FastAPI, *, token: bool, allowlist: bool) -> None:
    """Declare on every route each error status it can answer (what `/openapi.json` promises).

    Every route: 400 (unreadable Content-Length), 500; with a token 401, with an allowlist 403.
    Parameters or a body: 422. A JSON body: 413, 415. A path parameter or a mode run: 404.
    A mode run: 400, 403, 409 and 503 too (from the kinds of its errors), 502 for chat.
    """
    from fastapi.routing import APIRoute
    from fastapi.utils import create_model_field

    def api_routes(routes):
        for route in routes:
            included = getattr(route, "original_router", None)  # FastAPI >= 0.150 keeps routers whole
            if included is not None:
                yield from api_routes(included.routes)
            elif isinstance(route, APIRoute):
                yield route

    for route in api_routes(app.router.routes):
        codes = {400, 500}
        if token:
            codes.add(401)
        if allowlist:
            codes.add(403)
        dependant = route.dependant
        has_params = bool(dependant.query_params or dependant.path_params or dependant.body_params)
        if has_params or route.body_field is not None:
            codes.add(422)
        if route.body_field is not None:
            codes.update({413, 415})
        if dependant.path_params:
            codes.add(404)
        runs_mode = "POST" in route.methods and route.body_field is not None and route.path not in _NO_MODE
        if runs_mode:
            codes.update({400, 403, 404, 409, 503})
        if route.path in ("/v1/chat", "/v1/modes/{name}"):
            codes.add(502)
        for code, entry in error_responses(*sorted(codes)).items():
            if code in route.responses:
                continue
            route.responses[code] = entry
            # what APIRoute builds for `responses=` given at construction (the schema comes from it)
            route.response_fields[code] = create_model_field(
                name=f"Response_{code}_{route.unique_id}", type_=ErrorEnvelope, mode="serialization"
            )


def error_response(status: int, type_: str, message: str, details: Any = None, headers=None) -> JSONResponse:
    return JSONResponse(error_body(type_, message, details), status_code=status, headers=headers)


class Redactor:
    """Replaces known secret values (read fresh each time, so rotated keys are covered too)."""

    def __init__(self, secrets: Callable[[], Iterable[str]]) -> None:
        self._secrets = secrets

    def __call__(self, text: str) -> str:
        return scrub(text, self._secrets())


# ------------------------------------------------------------------------------- classification
def _message(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args:  # KeyError's str() adds quotes
        return str(exc.args[0])
    return str(exc) or type(exc).__name__


def _is_ours(exc: BaseException) -> bool:
    return type(exc).__module__.startswith(_OUR_PACKAGES)


def classify(exc: BaseException) -> ApiError | None:
    """The answer for a known error, or None for a bug (500): the one place a kind becomes a status."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, LakehouseError):
        if exc.kind is ErrorKind.INTERNAL:
            return None
        return ApiError(http_status(exc), error_type(exc), _message(exc), exc.fields)
    if not _is_ours(exc):
        return None
    name = type(exc).__name__
    if isinstance(exc, LookupError):
        return ApiError(404, _snake(name), _message(exc))
    if isinstance(exc, ValueError):
        return ApiError(400, _snake(name), _message(exc))
    if isinstance(exc, PermissionError):
        return ApiError(403, _snake(name), _message(exc))
    return None


def _snake(name: str) -> str:
    out = "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
    return out or "error"


# ------------------------------------------------------------------------------- validation details
def _unwrap_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _unwrap_models(arg)]


def _fields_at(model: type[BaseModel] | None, path: tuple[Any, ...]) -> list[str]:
    """Field names (and aliases) of the model found by walking `path` through `model`."""
    models = [model] if model else []
    for part in path:
        if isinstance(part, int):
            continue
        nxt: list[type[BaseModel]] = []
        for m in models:
            info = m.model_fields.get(str(part))
            if info is not None:
                nxt.extend(_unwrap_models(info.annotation))
        models = nxt
    names: list[str] = []
    for m in models:
        for name, info in m.model_fields.items():
            names.append(info.alias or name)
    return names


def _field_label(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(body)"


def validation_details(
    errors: Sequence[Mapping[str, Any]], model: type[BaseModel] | None, strip: tuple[str, ...] = ("body",)
) -> tuple[str, list[dict[str, Any]]]:
    """(one-line message, per-field details); unknown fields get a "did you mean" from the model."""
    locs = [tuple(e.get("loc", ())) for e in errors]
    locs = [loc[1:] if loc[:1] and loc[0] in strip else loc for loc in locs]
    missing_by_parent: dict[tuple, list[str]] = {}
    for err, loc in zip(errors, locs, strict=False):
        if err.get("type") == "missing" and loc:
            missing_by_parent.setdefault(loc[:-1], []).append(str(loc[-1]))
    fields: list[dict[str, Any]] = []
    for err, loc in zip(errors, locs, strict=False):
        item: dict[str, Any] = {
            "field": _field_label(loc),
            "loc": list(loc),
            "type": err.get("type"),
            "message": problem_text(err),
        }
        if err.get("type") == "extra_forbidden" and loc:
            name, parent = str(loc[-1]), loc[:-1]
            candidates = missing_by_parent.get(parent) or _fields_at(model, parent)
            close = close_matches(name, candidates, n=1)
            if not close and len(missing_by_parent.get(parent, [])) == 1:
                close = missing_by_parent[parent]
            item["message"] = f"unknown field {name!r}"
            if close:
                item["suggestion"] = close[0]
                item["message"] += hint(close)
            elif candidates:
                item["message"] += f" (allowed: {', '.join(sorted(candidates))})"
        fields.append(item)
    message = "invalid request: " + "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return message, fields


def _route_body_model(request: Request) -> type[BaseModel] | None:
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    for param in getattr(dependant, "body_params", []) or []:
        models = _unwrap_models(getattr(param.field_info, "annotation", None))
        if models:
            return models[0]
    return None


def _line_col(text: Any, pos: int) -> tuple[int, int]:
    if isinstance(text, bytes):  # a byte position: counted in bytes
        head = text[:pos]
        return head.count(b"\n") + 1, pos - (head.rfind(b"\n") + 1) + 1
    if not isinstance(text, str):
        return 1, pos + 1
    before = text[:pos]
    return before.count("\n") + 1, pos - (before.rfind("\n") + 1) + 1


# ------------------------------------------------------------------------------- handlers
def malformed_json(exc: RequestValidationError) -> tuple[str, dict[str, int]] | None:
    """The words and place of a body that is not JSON (FastAPI's `json_invalid`), or None."""
    bad_json = next((e for e in exc.errors() if e.get("type") == "json_invalid"), None)
    if bad_json is None:
        return None
    pos = bad_json["loc"][-1] if isinstance(bad_json["loc"][-1], int) else 0
    line, col = _line_col(exc.body, pos)
    reason = (bad_json.get("ctx") or {}).get("error", "invalid JSON")
    return f"request body is not valid JSON: {reason} at line {line}, column {col}", {
        "line": line,
        "column": col,
        "position": pos,
    }


def unparsed_body(exc: StarletteHTTPException) -> str | None:
    """What FastAPI's "There was an error parsing the body" stands for, in words, or None: it
    answers so for anything its body parser raises but a JSONDecodeError."""
    cause = exc.__cause__
    if exc.status_code != 400 or cause is None:
        return None
    if isinstance(cause, RecursionError):  # nested deeper than Python's recursion limit
        return "request body is not valid JSON: nested too deeply"
    if isinstance(cause, UnicodeDecodeError):
        line, col = _line_col(cause.object, cause.start)
        return (
            f"request body is not valid UTF-8: byte 0x{cause.object[cause.start]:02X} at line {line}, column {col} "
            "(JSON is sent as UTF-8)"
        )
    return None


async def _on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    bad_json = malformed_json(exc)
    if bad_json is not None:
        return error_response(400, "malformed_json", *bad_json)
    whole_body = [e for e in errors if tuple(e.get("loc", ())) == ("body",)]
    content_type = request.headers.get("content-type", "")
    if whole_body and content_type and "json" not in content_type:
        # curl's -d sends a form's type: the JSON it carries was read as a form
        curl = "; with curl, add -H 'Content-Type: application/json'" if "urlencoded" in content_type else ""
        return error_response(
            415,
            "unsupported_media_type",
            f"the request body must be JSON (Content-Type: application/json), not {content_type!r}{curl}",
        )
    if whole_body and whole_body[0].get("type") == "missing":
        return error_response(
            422,
            "invalid_request",
            "the request needs a body: a JSON object",
            {"fields": [{"field": "(body)", "loc": [], "type": "missing", "message": "Field required"}]},
        )
    message, fields = validation_details(errors, _route_body_model(request), strip=("body", "query", "path"))
    return error_response(422, "invalid_request", message, {"fields": fields})


async def _on_http_exception(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    problem = unparsed_body(exc)
    if problem is not None:
        return error_response(400, "malformed_json", problem)
    detail = exc.detail
    message = detail if isinstance(detail, str) else _STATUS_TYPES.get(exc.status_code, "error")
    if exc.status_code == 404 and detail == "Not Found":
        message = f"no endpoint {request.method} {request.url.path}; see /docs"
    details: dict[str, Any] = detail if isinstance(detail, dict) else {}
    return error_response(
        exc.status_code,
        _STATUS_TYPES.get(exc.status_code, "http_error"),
        message,
        details,
        headers=getattr(exc, "headers", None),
    )


async def _on_api_error(request: Request, exc: ApiError) -> JSONResponse:
    redact: Redactor = request.app.state.redact
    return error_response(exc.status, exc.type, redact(exc.message), exc.details)


STOPPED_MID_REQUEST = (
    "the API stopped before this request finished (its grace, api_stop_grace_s, ran out): send it again "
    "once the API is back; a workflow run it was waiting for reads as crashed, and resume runs the rest"
)


class CatchAll:
    """Innermost guard: classified errors get their 4xx/502; anything else a bare 500 with an id.

    The traceback is logged (redacted) here, so the exception never reaches the server's own
    logger, which would print its text unfiltered.
    """

    def __init__(self, app: ASGIApp, redact: Redactor) -> None:
        self.app = app
        self.redact = redact

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def send_wrapper(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except asyncio.CancelledError:  # a stopping server's grace (api_stop_grace_s) ran out
            if not started:
                await error_response(503, "stopping", STOPPED_MID_REQUEST, {})(scope, receive, send)
            raise
        except Exception as exc:
            known = classify(exc)
            if known is not None:
                response = error_response(known.status, known.type, self.redact(known.message), known.details)
            else:
                error_id = uuid.uuid4().hex[:12]
                text = "".join(traceback.format_exception(exc))
                # escaped: a lone surrogate in the text must not make the handler drop the record
                log.error(
                    "error %s on %s %s\n%s",
                    error_id,
                    scope.get("method"),
                    _cap(str(scope.get("path")), 2048),
                    _cap(self.redact(text), 200_000),
                )
                response = error_response(
                    500,
                    "internal_error",
                    f"internal error {error_id} ({type(exc).__name__}); the server log has the details",
                    {"error_id": error_id},
                )
            if started:  # too late for a clean answer: the server drops the connection
                return
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    # Starlette types a handler as taking any Exception, although it calls each one only with the
    # class it is registered for: a handler of one exception class is right and the hint too wide.
    app.add_exception_handler(RequestValidationError, _on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, _on_api_error)  # type: ignore[arg-type]
