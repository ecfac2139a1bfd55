"""Errors of the observe wing. Recording an ObservedOp raises nothing of its own today (a failed
record is counted and logged, never allowed to fail the call it audits); a new observer error
belongs here, derived from a kind in `lakehouse.errors`."""

from __future__ import annotations

__all__: list[str] = []
