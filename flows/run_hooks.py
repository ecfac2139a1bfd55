"""Hooks a caller sets around a workflow run (a leaf module: the runner imports it where it runs,
so no function that Dask pickles by value holds the ContextVar, which cannot be pickled)."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

# Told a run's Prefect flow-run id as soon as the flow starts: the HTTP run tracker, whose
# `?wait=false` submissions are known by their own id before a flow run exists.
FLOW_RUN_STARTED: ContextVar[Callable[[str], None] | None] = ContextVar("flow_run_started", default=None)
