"""Shared CLI helpers: consoles, JSON output, clean failure."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console

console = Console(emoji=False)
err_console = Console(stderr=True, emoji=False)


def print_json(data: Any) -> None:
    """Plain JSON on stdout (no rich markup), for scripts."""
    sys.stdout.write(json.dumps(data, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def parse_pair(pair: str, what: str) -> tuple[str, Any]:
    """`KEY=VALUE`; a VALUE that parses as JSON keeps its type (`n=3`, `tags=["a"]`)."""
    key, sep, raw = pair.partition("=")
    if not sep or not key.strip():
        fail(f"{what} {pair!r}: expected KEY=VALUE")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


def parse_key_values(pairs: list[str] | None, what: str = "--input") -> dict[str, Any]:
    return dict(parse_pair(pair, what) for pair in pairs or [])
