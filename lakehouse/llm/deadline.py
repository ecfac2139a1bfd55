"""A whole answer within its timeout, not only each byte.

httpx's read timeout bounds the silence between two reads: a provider that trickles a byte every
few seconds held one `lakehouse ask` for 27 minutes. `within(seconds)` sets a deadline for the
calls the block makes, and `DeadlineTransport` (the transport of litellm's client session) cuts a
response still arriving when it passes. Streams set none: a long answer may take longer, each
piece in time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import httpx

_deadline: ContextVar[float | None] = ContextVar("lakehouse_llm_deadline", default=None)


@contextmanager
def within(seconds: float) -> Iterator[None]:
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


class _Cut(httpx.SyncByteStream):
    def __init__(self, stream: httpx.SyncByteStream, deadline: float, request: httpx.Request) -> None:
        self.stream, self.deadline, self.request = stream, deadline, request

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.stream:
            if time.monotonic() > self.deadline:
                self.stream.close()
                raise httpx.ReadTimeout("the answer did not arrive whole within its timeout", request=self.request)
            yield chunk

    def close(self) -> None:
        self.stream.close()


class DeadlineTransport(httpx.BaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = _deadline.get()
        response = self.inner.handle_request(request)
        if deadline is not None and isinstance(response.stream, httpx.SyncByteStream):
            response.stream = _Cut(response.stream, deadline, request)
        return response

    def close(self) -> None:
        self.inner.close()
