"""The one formatter for pydantic validation errors, so a bad value reads the same from a record
file, a playbook entry, a mode call on the CLI or a workflow node:
`<where>, field 'a.b': <problem>; <where>, field 'c': <problem>`.

`validation_problems` gives the same as (field path, problem) pairs for callers that collect
problems of their own (workflow checks, HTTP error bodies).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

__all__ = ["field_path", "format_validation_error", "problem_text", "validation_problems"]


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """`('nodes', 0, 'with')` -> `nodes.0.with`; empty for a problem with the whole object."""
    return ".".join(str(part) for part in loc)


def problem_text(error: Mapping[str, Any]) -> str:
    """pydantic's message without the `Value error, ` that a validator's ValueError gets."""
    return str(error.get("msg", "")).removeprefix("Value error, ").removeprefix("Assertion failed, ")


def validation_problems(exc: ValidationError, strip: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(field path, problem) per error, in pydantic's order; a leading loc part in `strip` (e.g.
    FastAPI's "body") is dropped."""
    problems = []
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        if loc[:1] and loc[0] in strip:
            loc = loc[1:]
        problems.append((field_path(loc), problem_text(error)))
    return problems


def format_validation_error(exc: ValidationError, where: str | None = None) -> str:
    """One line: every problem as `field 'x': problem`, prefixed by `where` (a file and line, a
    mode name) when given, joined by `; `."""
    parts = []
    for path, problem in validation_problems(exc):
        text = f"field {path!r}: {problem}" if path else problem
        parts.append(f"{where}, {text}" if where and path else f"{where}: {text}" if where else text)
    return "; ".join(parts)
