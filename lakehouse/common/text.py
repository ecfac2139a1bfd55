"""Comparing texts as a person would."""

from __future__ import annotations


def fold(text: str) -> str:
    """Case and runs of whitespace do not count: the key under which two queries are the same."""
    return " ".join(text.casefold().split())
