"""`python -m flows.prefect_server server start ...`: Prefect's own CLI, for the server that
`lakehouse server start` runs, with one mend to Prefect's server models applied first.

Prefect 3.8's scheduler inserts its scheduled runs in one bulk INSERT whose rows carry a `state`
key, which names a hybrid property of `FlowRun`, not a column; the run's state rows are inserted
by the same function right after. SQLAlchemy 2.0 ignored that key; 2.1 asks such a property for a
`bulk_dml` function and, finding none, fails the whole INSERT ("Can't evaluate bulk DML
statement"), so no scheduled deployment ever got a run. The function given here keeps 2.0's
meaning: the key sets nothing. Both packages are pinned (constraints.txt); a Prefect that mends
this itself (a `bulk_dml` function already there) is left alone.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from typing import Any


def _state_sets_no_column(cls: type, mapping: MutableMapping[str, Any], value: Any) -> None:
    """The row's state is written by the caller as a state row of its own, as with SQLAlchemy 2.0."""


def mend_run_state_for_bulk_inserts() -> None:
    """Give the `state` hybrid of Prefect's FlowRun and TaskRun models a `bulk_dml` function where
    SQLAlchemy has the hook and none is set."""
    from prefect.server.database import orm_models

    for model in (orm_models.FlowRun, orm_models.TaskRun):
        hybrid = model.__dict__.get("state")
        if hybrid is not None and getattr(hybrid, "bulk_dml_setter", "absent") is None:
            hybrid.bulk_dml_setter = _state_sets_no_column


def prepare_server_process() -> None:
    """Before Prefect is imported. Importing `flows` points a process at the home's running server
    and quiets Prefect's console for the CLI; this process is a server, whose console is its log:
    without this its errors (the scheduler's failing INSERT among them) never reached the log. What
    the user set stays: a PREFECT_API_URL gives Prefect's UI its API address (production)."""
    from flows import prefect_env

    for ours in {"PREFECT_API_URL", prefect_env.QUIET_CONSOLE} & prefect_env.applied_defaults:
        os.environ.pop(ours, None)


def main() -> None:
    prepare_server_process()
    mend_run_state_for_bulk_inserts()
    from prefect.cli import app

    app()  # exits with Prefect's own code


if __name__ == "__main__":
    main()
