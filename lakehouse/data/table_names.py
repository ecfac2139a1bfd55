"""Table names: `name` or `namespace.name`, and the names the lakehouse keeps for its own tables.

A leaf module (no pyiceberg): the shared-state log, the corpus store and the surfaces that take a
table name from a caller all read the same rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lakehouse.data.errors import TableError

DEFAULT_NAMESPACE = "lakehouse"
SHARED_TABLE_PREFIX = "_lh_"  # `lakehouse._lh_ops`, ...: the shared state's logs
CORPUS_TABLE_PREFIX = "corpus_"  # `lakehouse.corpus_<name>`: a corpus's rows, with their vectors
_OWNERS = {
    SHARED_TABLE_PREFIX: "the lakehouse's shared state (the ops, playbook, pathway and evidence logs)",
    CORPUS_TABLE_PREFIX: "a corpus (its rows and vectors, written by `lakehouse corpus build`)",
}
_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_PART = 128  # characters of a namespace or a name a caller writes: each is a folder in the warehouse
# Names DuckDB gives its own catalogs and schemas: a namespace called so could never be queried.
SQL_RESERVED_NAMESPACES = frozenset({"main", "temp", "memory", "system", "information_schema", "pg_catalog"})


def split_name(name: str) -> tuple[str, str]:
    """`name` -> (`lakehouse`, `name`); `ns.name` -> (`ns`, `name`); anything else is refused."""
    parts = name.split(".") if isinstance(name, str) else []
    if len(parts) == 1:
        parts = [DEFAULT_NAMESPACE, parts[0]]
    if len(parts) != 2 or not all(_PART.match(p) for p in parts):
        raise TableError(
            f"bad table name {name!r}: use `name` or `namespace.name` made of letters, digits "
            "and '_' (not starting with a digit)"
        )
    if parts[0].lower() in SQL_RESERVED_NAMESPACES:
        raise TableError(
            f"bad table name {name!r}: the namespace {parts[0]!r} is the SQL engine's own, so its tables "
            f"could not be queried; use another (a bare name lives in {DEFAULT_NAMESPACE!r})"
        )
    return parts[0], parts[1]


def refuse_case_twin(ident: tuple[str, str], existing: Iterable[str]) -> None:
    """A new table named like an existing one but for case is refused: SQL identifiers ignore case,
    so `FROM upper` read one and `FROM UPPER` the other (two machines spelling a name two ways)."""
    wanted = ".".join(ident)
    for name in existing:
        if name.lower() == wanted.lower() and name != wanted:
            raise TableError(
                f"table {wanted!r} would differ from the existing table {name!r} only in case, which SQL "
                f"cannot tell apart: write to {name!r}, or choose another name"
            )


def qualified(name: str) -> str:
    return ".".join(split_name(name))


def caller_writable(name: str) -> str:
    """The qualified name of a table a caller (ingest, a mode's output table) may write, or
    TableError: the lakehouse's own tables are written only by the code that owns them."""
    namespace, table = split_name(name)
    longest = max((namespace, table), key=len)
    if len(longest) > MAX_PART:  # a new table's: ones made before the cap stay readable
        raise TableError(
            f"bad table name '{name[:40]}...': a namespace or a name has at most {MAX_PART} characters, "
            f"this one {len(longest):,}"
        )
    for prefix, owner in _OWNERS.items():
        # SQL reads `LAKEHOUSE._lh_ops` as `lakehouse._lh_ops`: a twin spelled so would stand in for it
        if namespace.lower() == DEFAULT_NAMESPACE and table.lower().startswith(prefix):
            raise TableError(
                f"table '{namespace}.{table}' belongs to {owner}: write your rows to a table whose name "
                f"does not start with {prefix!r}"
            )
    return f"{namespace}.{table}"
