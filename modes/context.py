"""What a mode gets besides its input: the Lakehouse handle, who is running it, a logger, and
whether the paths in its input may leave the lakehouse's roots (`trusted_paths`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakehouse.common.paths import resolve_path
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
    # The caller's own process (CLI, notebook, operator-defined jobs) may name any file; HTTP, MCP
    # and workflows submitted over HTTP may not leave LH_HOME, LH_HOME/inbox and `allowed_roots`.
    trusted_paths: bool = False
    parent_run_id: str | None = None  # a resumed workflow run's parent run
    # The workflow runner's last word on a node's output before its op is recorded: an output
    # contract may reject or reshape it (raising makes the op failed), the run store keeps it.
    finish: Callable[[dict[str, Any]], Any] | None = None

    @classmethod
    def standalone(
        cls, lakehouse: Lakehouse | None = None, source: str = "mode", *, trusted_paths: bool = True
    ) -> ModeContext:
        """A context for the caller's own process (CLI, notebook): its paths are trusted."""
        return cls(lakehouse=lakehouse or Lakehouse(), source=source, trusted_paths=trusted_paths)

    def path(self, value: str | Path, *, field: str, for_write: bool = False, cwd_relative: bool = False) -> Path:
        """`value` resolved (symlinks too) and checked against the allowed roots unless trusted;
        PathNotAllowed names `field`. A relative path is under LH_HOME; `cwd_relative` modes
        (ingest, lift) take it from the working directory when the caller is trusted."""
        return resolve_path(
            value,
            self.lakehouse.settings,
            field=field,
            for_write=for_write,
            trusted=self.trusted_paths,
            base=Path.cwd() if cwd_relative else None,
        )
