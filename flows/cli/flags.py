"""The CLI's one flag vocabulary (README: "Flags") and its deprecated spellings.

`--top N` how many results; `--where SQL` a SQL condition; `--filter KEY=VALUE` metadata equality
(repeatable); `--meta KEY=VALUE` metadata to attach; `--corpus NAME[,NAME]`; `--json` JSON on stdout.
An old spelling stays as a hidden option that still works and says what to use instead.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import TypeVar

import typer

from flows.cli.common import err_console

T = TypeVar("T")


class LogLevel(str, Enum):
    """uvicorn's levels: another word was `error: KeyError: loud` (exit 2) after the server was announced."""

    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"


def renamed(new_value: T | None, old_value: T | None, old: str, new: str, default: T | None = None) -> T | None:
    """The value of `new`, else of its deprecated spelling `old` (with a warning on stderr), else `default`."""
    if old_value is not None:
        err_console.print(f"warning: {old} is deprecated; use {new}", markup=False, highlight=False)
        if new_value is None:
            return old_value
    return default if new_value is None else new_value


def renamed_required(new_value: T | None, old_value: T | None, old: str, new: str) -> T:
    """`renamed` for a required flag: click cannot require `new` while `old` may stand for it, so
    neither given is refused here as click would (a usage error naming `new`, exit 2)."""
    value = renamed(new_value, old_value, old, new)
    if value is None:
        raise typer.BadParameter("required, and not given", param_hint=f"'{new}'")
    return value


def number_between(low: float, high: float) -> Callable[[str], float]:
    """A `parser=` for a float flag with bounds: typer's own range check lets `nan` through to a
    message about the upper bound."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not low <= value <= high:  # also NaN
            raise typer.BadParameter(f"expected a number from {low:g} to {high:g}, got {text!r}")
        return value

    return parse
