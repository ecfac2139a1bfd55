"""'Did you mean …' hints for unknown names: one wording across the CLI, HTTP and YAML errors."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def hint(matches: Iterable[str]) -> str:
    """`; did you mean 'a' or 'b'?`, or an empty string when there is nothing close."""
    matches = list(matches)
    return f"; did you mean {' or '.join(repr(m) for m in matches)}?" if matches else ""


def close_matches(word: str, choices: Iterable[str], *, n: int = 3, cutoff: float = 0.5) -> list[str]:
    return difflib.get_close_matches(word, list(choices), n=n, cutoff=cutoff)


def did_you_mean(word: str, choices: Iterable[str], *, n: int = 3, cutoff: float = 0.5) -> str:
    return hint(close_matches(word, choices, n=n, cutoff=cutoff))
