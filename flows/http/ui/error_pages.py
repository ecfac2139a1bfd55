"""Errors on console paths answer HTML for people; the /v1 API keeps its JSON envelope.

The status, type and (redacted) message still come from `flows/http/errors.py`, the one place an
error becomes an answer: for an exception the console runs that same guard (`CatchAll`, which also
logs a bug with its error id) and renders what it would have sent. A full page for a navigation;
for an HTMX request a fragment retargeted to the page's alert region (`#console-alert`), so the
user sees what went wrong without losing the page.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flows.http.errors import ApiError, CatchAll
from flows.http.ui import session

ALERT_TARGET = "#console-alert"
_HEADINGS = {
    400: "Bad request",
    401: "Log in first",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "Conflict",
    413: "Too large",
    422: "Invalid input",
    429: "Too many attempts",
    500: "Internal error",
    502: "The model provider failed",
    503: "Unavailable",
}


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def error_page(
    request: Request, status: int, message: str, *, shell: bool = True, headers: dict[str, str] | None = None
) -> HTMLResponse:
    """The message as a page (with the console's navigation when `shell`) or, for HTMX, an alert fragment."""
    from flows.http.ui import shell_context, templates

    heading = _HEADINGS.get(status, "Error")
    if is_htmx(request):
        html = templates.get_template("error_fragment.html").render(status=status, heading=heading, message=message)
        retarget = {"HX-Retarget": ALERT_TARGET, "HX-Reswap": "innerHTML"}
        return HTMLResponse(html, status_code=status, headers={**retarget, **(headers or {})})
    context: dict[str, Any] = {"status": status, "heading": heading, "message": message, "title": heading}
    context.update(shell_context(request, session.session_cookie(request)) if shell else {"bare": True})
    response = templates.TemplateResponse(request, "error.html", context, status_code=status, headers=headers)
    return response


def _envelope_message(body: bytes) -> str:
    try:
        return str(json.loads(body)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return body.decode("utf-8", "replace")[:2000]


def as_html(request: Request, response: Response) -> Response:
    """A JSON error envelope turned into the console's HTML (same status, same message)."""
    if response.status_code < 400 or not response.headers.get("content-type", "").startswith("application/json"):
        return response
    keep = {k: v for k, v in response.headers.items() if k.lower() in ("www-authenticate", "allow", "retry-after")}
    return error_page(request, response.status_code, _envelope_message(bytes(response.body)), headers=keep)


class ConsoleErrors:
    """Innermost on console paths: an exception becomes the HTML form of what `CatchAll` would answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not session.is_console_path(scope["path"]):
            return await self.app(scope, receive, send)
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            if started:
                raise
            request = Request(scope, receive)
            status, body = await _guarded(exc, scope, request.app.state.redact)
            await error_page(request, status, _envelope_message(body))(scope, receive, send)


async def _guarded(exc: Exception, scope: Scope, redact: Any) -> tuple[int, bytes]:
    """(status, body) that the API's own guard answers for `exc` (it logs a bug's traceback too)."""

    async def fail(scope: Scope, receive: Receive, send: Send) -> None:
        raise exc

    async def no_body() -> Message:
        return {"type": "http.disconnect"}

    sent: dict[str, Any] = {"status": 500, "body": b""}

    async def capture(message: Message) -> None:
        if message["type"] == "http.response.start":
            sent["status"] = message["status"]
        elif message["type"] == "http.response.body":
            sent["body"] += message.get("body", b"")

    await CatchAll(fail, redact)(scope, no_body, capture)
    return sent["status"], sent["body"]


def install(app: FastAPI) -> None:
    """HTML errors on console paths: for exceptions, and for the answers of the app's own handlers."""
    for exc_class in (StarletteHTTPException, RequestValidationError, ApiError):
        original = app.exception_handlers[exc_class]

        async def handler(request: Request, exc: Exception, original: Any = original) -> Response:
            response = await original(request, exc)
            return as_html(request, response) if session.is_console_path(request.url.path) else response

        app.add_exception_handler(exc_class, handler)
    app.add_middleware(ConsoleErrors)
