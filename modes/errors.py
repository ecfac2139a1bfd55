"""Errors of the modes layer: a wrongly declared mode, an unknown mode name, and the deliberate
failures of catalog modes (`fixture.fail`, `drift.nightly`)."""

from __future__ import annotations

from lakehouse.common.suggest import hint
from lakehouse.errors import ErrorKind, LakehouseError, NotFoundError

__all__ = ["ModeDefinitionError", "UnknownModeError", "FixtureFailure", "NightlyDriftFailed"]


class ModeDefinitionError(LakehouseError, TypeError):
    """A mode was declared wrongly; raised at import time. Our own bug: internal (a TypeError)."""

    kind = ErrorKind.INTERNAL


class UnknownModeError(NotFoundError):
    type = "unknown_mode"

    def __init__(self, name: str, suggestions: list[str]) -> None:
        self.name = name
        self.suggestions = suggestions
        super().__init__(f"unknown mode {name!r}{hint(suggestions)}", mode=name, suggestions=suggestions)


class FixtureFailure(LakehouseError, RuntimeError):
    """Raised by `fixture.fail`: the message is the node's. Stands for a crash: internal."""

    kind = ErrorKind.INTERNAL


class NightlyDriftFailed(LakehouseError, RuntimeError):
    """`drift.nightly` found drift: the lakehouse's state failed a check (409, exit 1)."""

    kind = ErrorKind.CONFLICT
