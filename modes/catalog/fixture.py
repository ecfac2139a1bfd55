"""Fixture modes for tests, demos and benchmarks."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modes.context import ModeContext
from modes.errors import FixtureFailure
from modes.registry import mode


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EchoIn(_In):
    value: Any = None


class EchoOut(BaseModel):
    value: Any = None


class TextIn(_In):
    text: str


class TextOut(BaseModel):
    text: str


class FailIn(_In):
    message: str


class FailOut(BaseModel):
    pass


class SleepIn(_In):
    seconds: float = Field(ge=0, le=3600)


class SleepOut(BaseModel):
    slept: float


@mode("fixture.echo")
def echo(inp: EchoIn, ctx: ModeContext) -> EchoOut:
    """Return the value unchanged."""
    return EchoOut(value=inp.value)


@mode("fixture.upper")
def upper(inp: TextIn, ctx: ModeContext) -> TextOut:
    """Upper-case the text."""
    return TextOut(text=inp.text.upper())


@mode("fixture.fail")
def fail(inp: FailIn, ctx: ModeContext) -> FailOut:
    """Always raise with the given message."""
    raise FixtureFailure(inp.message)


@mode("fixture.sleep")
def sleep(inp: SleepIn, ctx: ModeContext) -> SleepOut:
    """Sleep for the given seconds (in short steps, so a task timeout can interrupt it)."""
    start = time.perf_counter()
    deadline = start + inp.seconds
    while (left := deadline - time.perf_counter()) > 0:
        time.sleep(min(left, 0.05))
    return SleepOut(slept=round(time.perf_counter() - start, 4))


class RequireFileIn(_In):
    path: str = Field(min_length=1, max_length=4096)


class RequireFileOut(BaseModel):
    path: str
    size: int


@mode("fixture.require_file")
def require_file(inp: RequireFileIn, ctx: ModeContext) -> RequireFileOut:
    """Succeed once the file exists (its resolved path and size); until then fail with
    `missing file: <path>`. For resume demos: fix the world, then resume the run."""
    path = ctx.path(inp.path, field="path")
    if not path.is_file():
        raise FixtureFailure(f"missing file: {inp.path}")
    return RequireFileOut(path=str(path), size=path.stat().st_size)
