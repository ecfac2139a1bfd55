"""Errors of the learning wing: lift, pathway memory, distillation, ratings."""

from __future__ import annotations

from collections.abc import Iterable

from lakehouse.common.suggest import did_you_mean
from lakehouse.errors import ConflictError, ErrorKind, NotFoundError, UnavailableError, UserError

__all__ = [
    "LiftError",
    "LiftOutDirError",
    "PathwayError",
    "PathwayConflict",
    "TraceNotFound",
    "UnknownScorerError",
    "DistillError",
    "DriftError",
    "RatingError",
    "RatingsRejected",
    "RatedIdNotFound",
    "RatingConflict",
    "RatingsPartlyStored",
    "EvidenceLogUnwritable",
    "AdaptError",
]


class LiftError(UserError):
    pass


class LiftOutDirError(LiftError):
    """The reports' directory (`out_dir`, the CLI's --out) cannot take them: found before the run,
    so no search, judging or training is spent on a run whose reports would be lost."""

    def __init__(self, out_dir: str, reason: str) -> None:
        super().__init__(f"out_dir (--out) {out_dir!r} {reason}; nothing was run", out_dir=out_dir, reason=reason)
        self.out_dir, self.reason = out_dir, reason


class DistillError(UserError):
    """A distillation request with a bad parameter (n-gram size, threshold, category)."""


class DriftError(UserError):
    """A drift check given inputs it cannot compare (bad shapes, too few vectors, a bad alpha)."""


class PathwayError(UserError):
    """A request the memory cannot honour; nothing was written."""


class PathwayConflict(PathwayError, ConflictError):
    """A trace id that already names a trace with other text or metadata; nothing was written."""

    kind = ErrorKind.CONFLICT


class TraceNotFound(PathwayError, NotFoundError):
    kind = ErrorKind.NOT_FOUND


class UnknownScorerError(NotFoundError):
    """No distillation scorer of this version; `known` lists the published ones."""

    def __init__(self, version: str, known: Iterable[str]) -> None:
        names = list(known)
        self.version = version
        super().__init__(
            f"unknown scorer version {version!r} (known: {', '.join(names)}){did_you_mean(version, names, cutoff=0.4)}"
        )


class RatingError(UserError):
    """A rating (or a file of them) that cannot be recorded; nothing was stored."""


class RatingsRejected(RatingError):
    """Some ratings of a batch are invalid: `problems` lists every one as (row, field, problem),
    and nothing of the batch was stored."""

    def __init__(self, message: str, problems: list[tuple[str, str, str]]) -> None:
        super().__init__(message, problems=[{"row": r, "field": f, "problem": p} for r, f, p in problems])
        self.problems = problems


class RatedIdNotFound(RatingsRejected, NotFoundError):
    """Every rejected rating names a hit id its corpus does not hold."""

    kind = ErrorKind.NOT_FOUND


class RatingConflict(RatingsRejected, ConflictError):
    """Every rejected rating has a `rating_id` that already names another rating."""

    kind = ErrorKind.CONFLICT


class RatingsPartlyStored(UnavailableError):
    """The playbook entries of a batch were stored, their evidence records could not be written:
    `ids` names them; sending the same ratings again (with the same rating_id) completes them."""

    def __init__(self, message: str, ids: list[str], evidence_path: str) -> None:
        super().__init__(message, ids=ids, evidence_path=evidence_path)
        self.ids, self.evidence_path = ids, evidence_path


class EvidenceLogUnwritable(UnavailableError):
    """The evidence log cannot be opened for writing, found before any playbook entry is stored:
    a rating is recorded in both logs or in neither, so sending it again never counts it twice."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            f"the evidence log {path} cannot be written ({reason}); nothing was stored: fix the log, then rate again",
            path=path,
            reason=reason,
        )
        self.path, self.reason = path, reason


class AdaptError(UserError):
    """An adaptation that cannot run (too few recorded matches, a bad holdout share); nothing was staged."""


class KnowledgeError(UserError):
    """Bad input to a knowledge pass (no documents, a document too large, an unknown claim kind)."""
