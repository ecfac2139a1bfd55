"""The one error type of ingest: it says which file, line and column are wrong and why."""

from __future__ import annotations


class IngestError(ValueError):
    """A source file cannot be ingested; nothing was written."""

    def __init__(
        self,
        path: str,
        message: str,
        *,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.column = column
        where = [path]
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}")
