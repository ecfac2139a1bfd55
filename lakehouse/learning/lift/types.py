"""Value types shared by the lift harness and its reports (a leaf: it imports nothing of ours, so
the harness may import the report writer without a cycle)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

LiftKind = Literal["verbatim", "paraphrase"]


@dataclass
class LiftResult:
    kind: LiftKind
    report: dict[str, Any]
    rows: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)
