"""The read-only SQL guard: exactly one SELECT (or WITH … SELECT) statement, by DuckDB's own parser.

The guard is one of three walls; the connection itself also runs with
`enable_external_access=false`, no extension autoload and `lock_configuration=true`.
"""

from __future__ import annotations

import duckdb


class SqlRejected(ValueError):
    """The statement is not a single read-only query."""


def check_read_only(query: str) -> None:
    if not query or not query.strip():
        raise SqlRejected("empty SQL: give one SELECT statement")
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise SqlRejected(f"SQL does not parse: {exc}") from None
    if len(statements) != 1:
        raise SqlRejected(
            f"exactly one statement is allowed, got {len(statements)}: the SQL surface is read-only"
        )
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        name = getattr(kind, "name", str(kind))
        raise SqlRejected(f"{name} statements are not allowed: the SQL surface is read-only (SELECT/WITH only)")
