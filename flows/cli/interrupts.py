"""Ctrl-C during a workflow run from the CLI. Prefect holds the interrupt until the node(s) running
finish, so the command sat silent for as long, then exited 130 with nothing said: no run id, no
word of what ran. It now says at once what will happen, and at the end which run stopped and how
to run the rest (`workflow resume` reuses the nodes that completed)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flows.cli.common import err_console, fail, plain


@contextmanager
def interruptible_run(workflow: str) -> Iterator[None]:
    """Around one workflow run in the CLI's main thread; `workflow` names it in what is said."""
    from flows.run_hooks import FLOW_RUN_STARTED

    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return
    run: dict[str, str] = {}

    def started(run_id: str) -> None:
        run.setdefault("id", run_id)

    token = FLOW_RUN_STARTED.set(started)
    asked = 0

    def on_interrupt(_signum: int, _frame: Any) -> None:
        nonlocal asked
        asked += 1
        if asked == 1:
            named = f"run {run['id']} ({plain(workflow)})" if "id" in run else plain(workflow)
            err_console.print(f"interrupted: {named} stops once the node(s) running now finish", highlight=False)
            raise KeyboardInterrupt
        err_console.print("still waiting for the node(s) running now to finish", highlight=False)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    except KeyboardInterrupt:
        if "id" not in run:
            fail(f"interrupted before {plain(workflow)} started: nothing ran", code=130)
        fail(
            f"interrupted: run {run['id']} ({plain(workflow)}) stopped; the nodes it completed are kept: "
            f"`lakehouse workflow resume {run['id']}` runs the rest",
            code=130,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
        FLOW_RUN_STARTED.reset(token)
