"""Lift query files: JSONL lines `{"query": "...", "expected": ["id", ...]}`, read with their line
numbers so every error names the file, the line and the field; train and test must not share a query."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lakehouse.common.recordfile import InputFileError, read_json_lines
from lakehouse.common.validation import format_validation_error


class LiftQuery(BaseModel):
    """One line of a lift query file: `{"query": "...", "expected": ["id", ...]}`."""

    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1)
    expected: list[str] | None = None

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("expected", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            value = [value]
        if isinstance(value, list):
            return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        return value


@dataclass
class QueryLine:
    path: Path
    line: int
    item: LiftQuery

    @property
    def where(self) -> str:
        return f"{self.path} line {self.line}"


MAX_LISTED_LINES = 20  # a bad 2,000-line file gets its first bad lines named and a count of the rest


def read_queries(path: Path | str, *, require_expected: bool = False) -> list[QueryLine]:
    """Every query of a JSONL file, with its line number. Every bad line is named in one
    InputFileError (a file that is not JSON lines at all stops at its first broken line)."""
    path = Path(path)
    lines = []
    problems: list[str] = []
    for number, value in read_json_lines(path):
        where = f"{path} line {number}"
        if not isinstance(value, dict):
            problems.append(f'{where}: expected a JSON object like {{"query": ...}}, got {type(value).__name__}')
            continue
        try:
            item = LiftQuery.model_validate(value)
        except ValidationError as exc:
            problems.append(format_validation_error(exc, where))
            continue
        if require_expected and not item.expected:
            problems.append(f"{where}, field 'expected': required here (recall is measured against it)")
            continue
        lines.append(QueryLine(path, number, item))
    if problems:
        raise InputFileError(listed_problems(problems, f"{len(problems)} bad lines in {path}, nothing was run"))
    if not lines:
        raise InputFileError(f"{path}: no queries (the file is empty)")
    return lines


def listed_problems(problems: list[str], head: str) -> str:
    """One problem as it is; more as `head: first; second; ...; and N more`."""
    if len(problems) == 1:
        return problems[0]
    more = len(problems) - MAX_LISTED_LINES
    return f"{head}: " + "; ".join(problems[:MAX_LISTED_LINES]) + (f"; and {more} more" if more > 0 else "")


def _normal(text: str) -> str:
    """Case, punctuation and spacing do not count: memory replays "Sales Rep." for "sales rep"."""
    return " ".join(re.sub(r"[\W_]+", " ", text.casefold()).split())


def check_disjoint(train: list[QueryLine], test: list[QueryLine]) -> None:
    """A test query that is also a train query (ignoring case, punctuation and spacing) would be
    recorded: the warm pass would replay it, not generalize to it. Every such query is named."""
    seen = {_normal(line.item.query): line for line in train}
    shared = [
        f"{line.where}, field 'query': {line.item.query!r} is also a train query "
        f"({seen[_normal(line.item.query)].where}); test queries must never be recorded"
        for line in test
        if _normal(line.item.query) in seen
    ]
    if shared:
        raise InputFileError(
            listed_problems(shared, f"{len(shared)} test queries are also train queries, nothing was run")
        )
