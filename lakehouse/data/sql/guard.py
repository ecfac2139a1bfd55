"""The read-only SQL guard: exactly one SELECT (or WITH … SELECT) statement, by DuckDB's own parser,
that reads only tables — no file readers, no reading files by name, no environment.

The guard is one of three walls; every connection that runs user SQL (the SQL engine's and the
observer's `ops sql`) is also locked by `lock_down`: resource limits, no external access, no
extension autoload or autoinstall, no Python replacement scans, then `lock_configuration=true`.
The guard exists so that a refusal says *why* in plain words, before any connection is opened.
`apply_resource_limits` bounds what an allowed query may use (memory, threads, spill files).
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb

from lakehouse.data.errors import SqlRejected, SqlSettingError

# Table functions that only compute; every other one (read_csv, glob, query, …) is refused.
ALLOWED_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})
# Scalar functions that reach outside the query.
DENIED_FUNCTIONS = frozenset({"getenv", "read_text", "read_blob"})


def apply_resource_limits(con: duckdb.DuckDBPyConnection, settings: Any) -> None:
    """Bound a database's memory (`sql_memory_limit`: past it a query spills to disk or fails with
    an out-of-memory error instead of growing the process), its worker threads (`sql_threads`) and
    its spill files (`sql_temp_max_size`, in a directory of its own under LH_HOME/tmp/duckdb, which
    DuckDB removes when the database closes). Run before `lock_configuration`."""
    temp: Path | str = settings.home_dir / "tmp" / "duckdb" / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    try:
        Path(temp).parent.mkdir(parents=True, exist_ok=True)  # DuckDB creates only the last level, on first spill
    except OSError:
        # a read-only home (a backup mounted to read) or a full disk: queries still run, in memory only
        temp = ""  # DuckDB: no spill directory
    for name, setting, value in (
        ("memory_limit", "sql_memory_limit", settings.sql_memory_limit),
        ("threads", "sql_threads", settings.sql_threads),
        ("max_temp_directory_size", "sql_temp_max_size", settings.sql_temp_max_size),
        ("temp_directory", None, str(temp)),
    ):
        try:
            con.execute(f"SET {name} = ?", [value])
        except duckdb.Error as exc:
            where = f"{setting} (LH_{setting.upper()})" if setting else name
            raise SqlSettingError(f"bad SQL setting {where} = {value!r}: {str(exc).splitlines()[0]}") from None


# Run after the resource limits and any allowed_directories; lock_configuration last: it forbids the others.
LOCK_DOWN = (
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET enable_external_access = false",
    "SET python_enable_replacements = false",
    "SET lock_configuration = true",
)


def open_database() -> duckdb.DuckDBPyConnection:
    """A new in-memory database for user SQL. Replacement scans are off in its configuration, not
    only in its session: a `SET` does not reach the cursors of a shared database, and a cursor
    that scans Python variables would answer a bare unknown name from the caller's locals."""
    return duckdb.connect(":memory:", config={"python_enable_replacements": False})


def lock_down(con: duckdb.DuckDBPyConnection, settings: Any, *, allowed_directory: str | None = None) -> None:
    """The one lock-down for a connection that runs user SQL: resource limits from `settings`,
    optionally one directory DuckDB may still read (Iceberg data files), then no external access,
    no extension autoload/autoinstall, no replacement scans, and the configuration locked.
    Register Arrow tables and views before calling it."""
    apply_resource_limits(con, settings)
    if allowed_directory is not None:
        con.execute("SET allowed_directories = [?]", [allowed_directory])
    for statement in LOCK_DOWN:
        con.execute(statement)


@dataclass
class QueryShape:
    """What a checked query reads: (schema or None, table) pairs, CTE names excluded."""

    tables: set[tuple[str | None, str]] = field(default_factory=set)
    ctes: set[str] = field(default_factory=set)


def check_read_only(query: str) -> QueryShape:
    """The tables a single read-only query reads; `SqlRejected` for anything else."""
    if not isinstance(query, str):
        raise SqlRejected("empty SQL: give one SELECT statement")
    shape = _checked(query)
    # A copy: the verdict is cached per text (dashboards repeat queries), callers may not alter it.
    return QueryShape(set(shape.tables), set(shape.ctes))


@lru_cache(maxsize=512)
def _checked(query: str) -> QueryShape:
    if not query.strip():
        raise SqlRejected("empty SQL: give one SELECT statement")
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise SqlRejected(f"SQL does not parse: {exc}") from None
    if len(statements) != 1:
        raise SqlRejected(f"exactly one statement is allowed, got {len(statements)}: the SQL surface is read-only")
    try:
        kind = statements[0].type
    except ValueError:  # a statement kind this duckdb build's Python enum does not name
        raise SqlRejected("this statement is not allowed: the SQL surface is read-only (SELECT/WITH only)") from None
    if kind == duckdb.StatementType.MULTI:  # DuckDB runs a PIVOT without IN (...) as two statements
        raise SqlRejected(
            "this PIVOT needs its values listed to run as one read-only query: "
            "PIVOT t ON col IN ('a', 'b') USING ... (or GROUP BY with one FILTER per value)"
        )
    if kind != duckdb.StatementType.SELECT:
        name = getattr(kind, "name", str(kind))
        raise SqlRejected(f"{name} statements are not allowed: the SQL surface is read-only (SELECT/WITH only)")
    shape = QueryShape()
    try:
        for stmt in _syntax_tree(query):
            _walk(stmt, shape)
    except RecursionError:
        # DuckDB allows 1,000 levels of expressions; its JSON tree is several levels per expression.
        raise SqlRejected("SQL is nested too deeply to check: flatten the nested expressions") from None
    shape.tables = {(s, t) for s, t in shape.tables if s is not None or t.lower() not in shape.ctes}
    return shape


def check_condition(condition: str) -> None:
    """`SqlRejected` unless `condition` stays one condition when put in `WHERE (...)`: no comment
    (it would swallow the rest of the query), no parenthesis it closes without opening (`1=1)
    UNION SELECT ...` would end the WHERE and add a query of its own), no `;`. Subqueries inside
    it are conditions too and stay allowed; the whole query is then checked like any other."""
    tokens = duckdb.tokenize(condition)
    depth = 0
    for index, (start, kind) in enumerate(tokens):
        if kind == duckdb.token_type.comment:
            raise SqlRejected("the condition holds a comment (-- or /* */): give the condition alone")
        if kind != duckdb.token_type.operator:
            continue
        end = tokens[index + 1][0] if index + 1 < len(tokens) else len(condition)
        for char in condition[start:end]:
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth < 0:
                raise SqlRejected("the condition closes a parenthesis it did not open: give one condition")
            if char == ";":
                raise SqlRejected("the condition holds ';': give one condition, not statements")
    if depth:
        raise SqlRejected("the condition leaves a parenthesis open")


_parser: duckdb.DuckDBPyConnection | None = None
_parser_lock = threading.Lock()


def _syntax_tree(query: str) -> list[dict[str, Any]]:
    """DuckDB's own parse tree as JSON; one locked parser database per process (parsing reads
    nothing, and a new database costs more than the parse)."""
    global _parser
    with _parser_lock:
        if _parser is None:
            _parser = duckdb.connect(":memory:")
            for statement in ("SET enable_external_access = false", "SET lock_configuration = true"):
                _parser.execute(statement)
        ((text,),) = _parser.execute("SELECT json_serialize_sql(?::VARCHAR)", [query]).fetchall()
    tree = json.loads(text)
    if tree.get("error"):
        raise SqlRejected(f"SQL is not a plain query: {tree.get('error_message', 'unsupported statement')}")
    return [s["node"] for s in tree["statements"]]


def _walk(node: Any, shape: QueryShape) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item, shape)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "TABLE_FUNCTION":
        function = node.get("function") or {}
        name = str(function.get("function_name", "")).lower()
        if name not in ALLOWED_TABLE_FUNCTIONS:
            raise SqlRejected(
                f"table function {name}() is not allowed: query tables by name "
                f"(allowed functions in FROM: {', '.join(sorted(ALLOWED_TABLE_FUNCTIONS))})"
            )
        _walk(function.get("arguments") or function.get("children"), shape)
        return
    if kind == "BASE_TABLE":
        table = str(node.get("table_name", ""))
        full = ".".join(p for p in (node.get("catalog_name"), node.get("schema_name"), table) if p)
        if any(ch in table for ch in "/\\:.*?") or node.get("catalog_name"):
            raise SqlRejected(f"reading {full!r} is not allowed: query Lakehouse tables by name")
        shape.tables.add((node.get("schema_name") or None, table))
        return
    if node.get("class") == "FUNCTION":
        name = str(node.get("function_name", "")).lower()
        if name in DENIED_FUNCTIONS or name.startswith("read_"):
            raise SqlRejected(f"function {name}() is not allowed in read-only SQL")
    cte_map = node.get("cte_map")
    if isinstance(cte_map, dict):
        for entry in cte_map.get("map") or []:
            shape.ctes.add(str(entry.get("key", "")).lower())
    for value in node.values():
        _walk(value, shape)
