"""Errors of the flows layer: workflow files, references and `when:` conditions, the runner, and the
HTTP service's access settings. (`flows.http.errors.ApiError` is the HTTP layer's own answer.)"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakehouse.errors import ErrorKind, LakehouseError, NotFoundError, UserError

if TYPE_CHECKING:
    from flows.loader import WorkflowIssue

__all__ = [
    "WorkflowError",
    "WhenSyntaxError",
    "ReferenceSyntaxError",
    "ReferenceLookupError",
    "InputTooLarge",
    "WorkflowCrashed",
    "AccessConfigError",
]


class WorkflowError(UserError):
    """A workflow file (or its inputs) is invalid; `issues` holds every problem found."""

    def __init__(self, issues: list[WorkflowIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class WhenSyntaxError(UserError):
    pass


class ReferenceSyntaxError(UserError):
    pass


class ReferenceLookupError(NotFoundError):
    pass


class InputTooLarge(ReferenceLookupError):
    """What the references of one node's input bring in is above `workflow_max_input_chars`: bad
    input (a LookupError still, as before)."""

    kind = ErrorKind.USER

    def __init__(self, field: str, limit: int, seen: int) -> None:
        self.field, self.limit, self.seen = field, limit, seen
        super().__init__(
            f"{field}: the references in this node's input bring in more than the limit of {limit:,} "
            f"characters (over {seen:,} so far; setting workflow_max_input_chars): pass less data"
        )


class WorkflowCrashed(LakehouseError, RuntimeError):
    """The flow itself broke (not a node): Prefect or our orchestration failed."""

    kind = ErrorKind.INTERNAL


class AccessConfigError(UserError):
    """The access-control settings themselves are wrong (the server refuses to start)."""
