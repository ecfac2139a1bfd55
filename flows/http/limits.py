"""Request body cap (`Settings.api_max_body_bytes`): 413 before the body is read when the length
is declared, and as soon as the running count passes the cap when it is streamed (chunked)."""

from __future__ import annotations

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flows.http.errors import error_response


def _too_large(limit: int) -> str:
    return f"request body is larger than the limit of {limit} bytes (LH_API_MAX_BODY_BYTES)"


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                return await error_response(400, "bad_request", "Content-Length is not a number")(scope, receive, send)
            if length > self.max_bytes:
                details = {"limit": self.max_bytes, "content_length": length}
                return await error_response(413, "body_too_large", _too_large(self.max_bytes), details)(
                    scope, receive, send
                )
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # FastAPI re-raises HTTPExceptions from body reading; the handler answers 413.
                    raise HTTPException(413, _too_large(self.max_bytes))
            return message

        await self.app(scope, counting_receive, send)
