"""Hooks a caller sets around a workflow run (a leaf module: the runner imports it where it runs,
so no function that Dask pickles by value holds the ContextVar, which cannot be pickled)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# Told a run's Prefect flow-run id as soon as the flow starts: the HTTP run tracker, whose
# `?wait=false` submissions are known by their own id before a flow run exists.
FLOW_RUN_STARTED: ContextVar[Callable[[str], None] | None] = ContextVar("flow_run_started", default=None)


class _RunsInFlight:
    """How many workflow runs this process is running now: a stopping server says it is leaving
    them (they read as crashed) even when the interpreter's exit breaks them before its timer."""

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    @contextmanager
    def running(self) -> Iterator[None]:
        with self._lock:
            self._count += 1
        try:
            yield
        finally:
            with self._lock:
                self._count -= 1

    def __len__(self) -> int:
        return self._count


RUNS_IN_FLIGHT = _RunsInFlight()
