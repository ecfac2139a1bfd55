"""What a mode gets besides its input: the Lakehouse handle, who is running it, a logger."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from lakehouse.core import Lakehouse


@dataclass
class ModeContext:
    lakehouse: Lakehouse
    workflow: str | None = None
    run_id: str | None = None
    node_id: str | None = None
    attempt: int = 1
    source: str = "mode"  # workflow | mode | event | http
    model: str | None = None  # the workflow's default model, for llm nodes
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("lakehouse.mode"))

    @classmethod
    def standalone(cls, lakehouse: Lakehouse | None = None, source: str = "mode") -> "ModeContext":
        return cls(lakehouse=lakehouse or Lakehouse(), source=source)
