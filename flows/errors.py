"""Errors of the flows layer: workflow files, references and `when:` conditions, the runner, and the
HTTP service's access settings. (`flows.http.errors.ApiError` is the HTTP layer's own answer.)"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakehouse.errors import ConflictError, ErrorKind, LakehouseError, NotFoundError, UnavailableError, UserError

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
    "RunRecordNotFound",
    "ResumeRefused",
    "NodeFailed",
    "ServerStartFailed",
    "ApprovalRefused",
    "PrefectUnavailable",
    "UnknownResumeNode",
    "NotAJsonValue",
    "OutputContractError",
    "ConsoleRefused",
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


class RunRecordNotFound(NotFoundError):
    """No manifest, node record or stored output for a run (resume, approve)."""


class ResumeRefused(ConflictError):
    """A resume that would not be faithful (the workflow file changed, the run is still going, …)."""


class NodeFailed(LakehouseError):
    """A node's own failure as the runner reports it (fan-out items, loop limits, output contracts,
    rejected or timed-out approvals): its message is the Prefect task run's message as is."""

    kind = ErrorKind.USER


class OutputContractError(NodeFailed):
    """A prompt node's answer is not JSON or does not match its `output_schema` (or that schema is not
    a valid JSON Schema): the attempt fails with this message and is retried if `retry` allows."""


class StateFileUnwritable(UnavailableError):
    """A server could not write the state file the CLI finds it by (a full disk, a read-only home):
    refused before it announces itself."""


class ServerStartFailed(UnavailableError):
    """The local Prefect server did not come up; the message says why and where its log is.
    `exited`: its process ended during start-up (e.g. the port was taken), rather than not answering."""

    def __init__(self, message: str, *, exited: bool = False) -> None:
        super().__init__(message, exited=exited)
        self.exited = exited


class ApprovalRefused(ConflictError):
    """The run is not waiting for this approval (not paused, paused on another node, timed out)."""


class PrefectUnavailable(UnavailableError):
    """No Prefect server to read or resume runs from."""


class UnknownResumeNode(UserError):
    """`--from NODE` names no node of the workflow."""

    http_code = 422
    type = "unknown_node"


class NotAJsonValue(UserError):
    """A literal an answer's JSON may not hold (NaN, a number out of range, a huge integer): a
    ValueError, so the contract's parser reports it like any other JSON mistake."""


class AccessConfigError(UserError):
    """The access-control settings themselves are wrong (the server refuses to start)."""


class ConsoleRefused(UserError):
    """A console request without a valid session or CSRF token (HTTP 403)."""

    http_code = 403
    type = "forbidden"
