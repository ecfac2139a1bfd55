"""The one error root. Every exception that `lakehouse`, `modes` and `flows` raise on purpose
derives from `LakehouseError` and has a kind; HTTP status, CLI exit code and MCP tool errors are
derived from the kind in one place each (flows/http/errors.py, flows/cli/common.py).

Kinds also keep the builtin base a caller would naturally catch (a user error is a `ValueError`,
a not-found a `LookupError`), so `except ValueError` around a parser keeps working.
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class ErrorKind(str, Enum):
    USER = "user_error"  # bad input: HTTP 4xx (400 unless a subclass says otherwise), exit 1
    NOT_FOUND = "not_found"  # HTTP 404, exit 1
    CONFLICT = "conflict"  # HTTP 409, exit 1
    UNAVAILABLE = "unavailable"  # a dependency is down or refused: HTTP 503, exit 2
    INTERNAL = "internal"  # our own bug or an unexpected state: HTTP 500, exit 2


class LakehouseError(Exception):
    """Root of every deliberate error. `fields` keeps what the message is about (table, path,
    node, field...) so callers and error bodies can use them without parsing text."""

    kind: ErrorKind = ErrorKind.INTERNAL
    # an HTTP status finer than the kind's default (403, 413, 502 ...); not `status`, which some
    # errors already use for their own field (ProviderError.status is the provider's answer)
    http_code: int | None = None
    # the machine-readable `type` of an HTTP error body; None: the class name in snake_case
    type: str | None = None

    def __init__(self, message: str = "", **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields

    def __str__(self) -> str:
        return self.message or type(self).__name__


class UserError(LakehouseError, ValueError):
    kind = ErrorKind.USER


class NotFoundError(LakehouseError, LookupError):
    kind = ErrorKind.NOT_FOUND

    def __str__(self) -> str:  # LookupError/KeyError quoting must not leak into messages
        return self.message or type(self).__name__


class ConflictError(LakehouseError):
    kind = ErrorKind.CONFLICT


class UnavailableError(LakehouseError, RuntimeError):
    kind = ErrorKind.UNAVAILABLE


HTTP_STATUS = {
    ErrorKind.USER: 400,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.INTERNAL: 500,
}
EXIT_CODE = {
    ErrorKind.USER: 1,
    ErrorKind.NOT_FOUND: 1,
    ErrorKind.CONFLICT: 1,
    ErrorKind.UNAVAILABLE: 2,
    ErrorKind.INTERNAL: 2,
}


def http_status(exc: LakehouseError) -> int:
    return exc.http_code or HTTP_STATUS[exc.kind]


def exit_code(exc: LakehouseError) -> int:
    return EXIT_CODE[exc.kind]


def error_type(exc: LakehouseError) -> str:
    """`exc.type`, else the class name in snake_case (`TableNotFound` -> `table_not_found`)."""
    if exc.type:
        return exc.type
    name = type(exc).__name__
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_") or "error"
