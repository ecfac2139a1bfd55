"""The Prefect tasks a workflow run is made of: one per node attempt (`node`), a sub-workflow call
(`subworkflow`), and `mark`, which only puts a node's decided state into the Prefect graph (Skipped,
Reused, an approval's answer) with its upstream edges.

A node's failure is returned as a `Failed` state whose message is the mode's own error text (what the
Prefect UI shows), not raised into Prefect's traceback; Prefect still retries a returned failure.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import task_run
from prefect.states import Completed, Failed, State
from pydantic import ValidationError

from flows.errors import NodeFailed
from flows.outputs import RunStore
from lakehouse.common.secrets import scrub
from lakehouse.common.validation import format_validation_error
from lakehouse.config import get_settings
from lakehouse.core import Lakehouse
from lakehouse.observe.observer import ObservedOp, now_utc
from modes.context import ModeContext
from modes.invoke import invoke_mode

_lakehouse: Lakehouse | None = None
_lakehouse_lock = threading.Lock()
attempts: dict[tuple[str, str], int] = {}  # (run id, node label) -> the attempt Prefect is on


def current_lakehouse() -> Lakehouse:
    """One handle per process and settings object, shared by all task threads."""
    global _lakehouse
    settings = get_settings()
    with _lakehouse_lock:
        if _lakehouse is None or _lakehouse.settings is not settings:
            _lakehouse = Lakehouse(settings)
        return _lakehouse


def failure_text(exc: BaseException, lakehouse: Lakehouse) -> str:
    # a mode's input refused at run time (a `$inputs` value out of its range): one line naming the
    # field, as every other surface says it, not pydantic's pages with their documentation links
    detail = format_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
    return scrub(f"{type(exc).__name__}: {detail}", lakehouse.settings.secret_values())


class _SecretsMasked(logging.Filter):
    """Masks secret values in a run's log lines, which Prefect ships to its API (the UI's log table).

    On the run loggers themselves, as Prefect's own API-key filter is: a logger keeps its filters when
    Prefect configures logging again (a server start does), while its handlers are replaced."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is None:  # exc_info=True with no exception: no "NoneType: None"
            record.exc_info = None
        secrets = get_settings().secret_values()
        if secrets:
            record.msg, record.args = scrub(record.getMessage(), secrets), None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = scrub(record.exc_text, secrets)
        return True


def mask_secrets_in_run_logs() -> None:
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _SecretsMasked) for f in logger.filters):
            logger.addFilter(_SecretsMasked())


mask_secrets_in_run_logs()


def _execute_node(
    label: str,
    mode: str,
    payload: dict[str, Any],
    workflow: str,
    run_id: str,
    default_model: str | None,
    trusted_paths: bool = False,
    parent_run_id: str | None = None,
    output_schema: dict[str, Any] | None = None,
) -> Any:
    lakehouse = current_lakehouse()
    attempt = task_run.run_count or 1
    attempts[(run_id, label)] = attempt
    runs = RunStore(lakehouse.store)

    def finish(output: dict[str, Any]) -> Any:
        if output_schema is not None:  # a prompt node's contract: its answer, parsed and validated
            from flows.contracts import parse_answer

            output = parse_answer(output["text"], output_schema)
        runs.put_output(output)  # stored before the op that references it is written
        return output

    ctx = ModeContext(
        lakehouse=lakehouse,
        workflow=workflow,
        run_id=run_id,
        node_id=label,
        attempt=attempt,
        source="workflow",
        model=default_model,
        trusted_paths=trusted_paths,
        parent_run_id=parent_run_id,
        finish=finish,
    )
    try:
        return invoke_mode(mode, payload, ctx)
    except Exception as exc:  # the op is recorded; Prefect gets the mode's words (and may retry)
        text = failure_text(exc, lakehouse)
        # the state's data is logged with it (its repr): the masked words, never the raw exception
        return Failed(message=text, data=NodeFailed(text))


node_task = task(name="node", cache_policy=NO_CACHE, persist_result=False, log_prints=False)(_execute_node)


def _mark(label: str, name: str, message: str, failed: bool = False, output: Any = None) -> State:
    if failed:
        return Failed(name=name, message=message, data=output)
    return Completed(name=name, message=message, data=output)


mark_task = task(name="mark", cache_policy=NO_CACHE, persist_result=False, log_prints=False)(_mark)


def _run_subworkflow(
    label: str,
    child: str,
    inputs: dict[str, Any],
    workflow: str,
    run_id: str,
    trusted_paths: bool = False,
    parent_run_id: str | None = None,
    child_text: str = "",
    child_source: str = "",
) -> Any:
    """Run the child workflow (its text and source as checked with the parent) as a Prefect subflow
    of this task; its output is {child node: output}."""
    from flows.loader import load_workflow_text
    from flows.runner import run_workflow_flow

    lakehouse = current_lakehouse()
    attempt = task_run.run_count or 1
    attempts[(run_id, label)] = attempt
    started = now_utc()
    output: Any = None
    error: str | None = None
    try:
        loaded = load_workflow_text(child_text, child_source, inputs)
        state = run_workflow_flow.with_options(name=loaded.name)(
            workflow=loaded.source,
            inputs=loaded.inputs,
            yaml_text=loaded.text,
            trusted_paths=trusted_paths,
            return_state=True,
        )
        data: Any = state.result(raise_on_failure=False)
        if isinstance(data, BaseException):
            error = f"sub-workflow {child} crashed: {failure_text(data, lakehouse)}"
        else:
            nodes = data.get("nodes", {})
            if data.get("status") == "failed":
                failed = [n for n, r in nodes.items() if r["status"] == "failed"]
                error = f"sub-workflow {child} failed: node(s) {', '.join(failed)} failed (run {data['run_id']})"
            else:
                output = {n: r["output"] for n, r in nodes.items() if r["status"] == "completed"}
                RunStore(lakehouse.store).put_output(output)
    except Exception as exc:
        error = f"sub-workflow {child}: {failure_text(exc, lakehouse)}"
    lakehouse.observer.record(
        ObservedOp.build(
            ts_start=started,
            source="workflow",
            workflow=workflow,
            run_id=run_id,
            node_id=label,
            mode=f"workflow:{child}",
            attempt=attempt,
            status="failed" if error else "completed",
            error=error,
            input=inputs,
            output=output,
            parent_run_id=parent_run_id,
            summary_chars=lakehouse.settings.ops_summary_chars,
            secrets=lakehouse.settings.secret_values(),
        )
    )
    return Failed(message=error) if error else output


subworkflow_task = task(name="subworkflow", cache_policy=NO_CACHE, persist_result=False, log_prints=False)(
    _run_subworkflow
)
