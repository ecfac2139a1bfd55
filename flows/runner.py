"""Compile a checked workflow into a Prefect flow and run it.

The flow is named after the workflow; each node is a Prefect task whose name and run name are the
node id. Nodes are submitted as soon as their dependencies are done, so independent branches run
concurrently. A failed node's dependents are skipped (`upstream failed: <id>`), independent
branches go on, and the run ends Failed. Every attempt and every skip is an ObservedOp, written by
our own code as it happens (Prefect's ephemeral server may drop task-run records at exit).

`trusted_paths` says whether the nodes may name files outside the lakehouse's roots: the CLI runs
as the user (trusted); a workflow submitted over HTTP or triggered with deployment parameters is
not (the default), see `lakehouse/common/paths.py`.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
from typing import Any, Literal

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run, task_run
from prefect.states import Failed, State
from pydantic import BaseModel, Field

from flows.errors import WorkflowCrashed
from flows.loader import LoadedWorkflow, load_workflow, load_workflow_text
from flows.refs import ReferenceLookupError, resolve
from flows.when import WhenSyntaxError, evaluate_when
from lakehouse.common.secrets import scrub
from lakehouse.config import get_settings
from lakehouse.core import Lakehouse
from lakehouse.observe.observer import ObservedOp, now_utc
from modes.context import ModeContext
from modes.invoke import invoke_mode

NodeStatus = Literal["completed", "failed", "skipped"]


class NodeResult(BaseModel):
    status: NodeStatus
    output: Any = None
    error: str | None = None
    attempts: int = 0


class RunResult(BaseModel):
    run_id: str
    workflow: str
    status: Literal["completed", "failed"]
    nodes: dict[str, NodeResult] = Field(default_factory=dict)


_lakehouse: Lakehouse | None = None
_lakehouse_lock = threading.Lock()
_attempts: dict[tuple[str, str], int] = {}


def current_lakehouse() -> Lakehouse:
    """One handle per process and settings object, shared by all task threads."""
    global _lakehouse
    settings = get_settings()
    with _lakehouse_lock:
        if _lakehouse is None or _lakehouse.settings is not settings:
            _lakehouse = Lakehouse(settings)
        return _lakehouse


def _execute_node(
    node_id: str,
    mode: str,
    payload: dict[str, Any],
    workflow: str,
    run_id: str,
    default_model: str | None,
    trusted_paths: bool = False,
) -> dict[str, Any]:
    attempt = task_run.run_count or 1
    _attempts[(run_id, node_id)] = attempt
    ctx = ModeContext(
        lakehouse=current_lakehouse(),
        workflow=workflow,
        run_id=run_id,
        node_id=node_id,
        attempt=attempt,
        source="workflow",
        model=default_model,
        trusted_paths=trusted_paths,
    )
    return invoke_mode(mode, payload, ctx)


node_task = task(name="node", cache_policy=NO_CACHE, persist_result=False, log_prints=False)(_execute_node)


class _Run:
    """The state of one flow run: which nodes are done, their outputs, and their results."""

    def __init__(self, loaded: LoadedWorkflow, run_id: str, trusted_paths: bool = False) -> None:
        self.loaded = loaded
        self.run_id = run_id
        self.trusted_paths = trusted_paths
        self.results: dict[str, NodeResult] = {}
        self.outputs: dict[str, Any] = {}
        self.lakehouse = current_lakehouse()

    def record(self, node_id: str, status: NodeStatus, error: str, attempt: int, payload: Any = None) -> None:
        started = now_utc()
        self.lakehouse.observer.record(
            ObservedOp.build(
                ts_start=started,
                source="workflow",
                workflow=self.loaded.name,
                run_id=self.run_id,
                node_id=node_id,
                mode=self.loaded.nodes[node_id].mode_name,
                attempt=attempt,
                status=status,
                error=error,
                input=payload,
                summary_chars=self.lakehouse.settings.ops_summary_chars,
                secrets=self.lakehouse.settings.secret_values(),
            )
        )
        self.results[node_id] = NodeResult(status=status, error=error, attempts=attempt)

    def decide(self, node_id: str) -> dict[str, Any] | None:
        """The node's resolved input if it should run now; otherwise record why it does not."""
        node = self.loaded.nodes[node_id]
        deps = sorted(self.loaded.graph.predecessors(node_id))
        failed = [d for d in deps if self.results[d].status == "failed"]
        skipped = [d for d in deps if self.results[d].status == "skipped"]
        if failed:
            self.record(node_id, "skipped", f"upstream failed: {', '.join(failed)}", 0)
            return None
        if skipped and node.on_upstream_skip == "skip":
            self.record(node_id, "skipped", f"upstream skipped: {', '.join(skipped)}", 0)
            return None
        inputs = self.loaded.inputs
        try:
            if node.when is not None and not evaluate_when(node.when, inputs, self.outputs):
                self.record(node_id, "skipped", f"when is false: {node.when}", 0)
                return None
            return resolve(self.loaded.payload(node_id), inputs, self.outputs)
        except (ReferenceLookupError, WhenSyntaxError) as exc:
            self.record(node_id, "failed", f"{type(exc).__name__}: {exc}", 1)
            return None

    def submit(self, node_id: str, payload: dict[str, Any]):
        node = self.loaded.nodes[node_id]
        mode = node.mode_name
        assert mode is not None  # the loader refuses a node without `mode:` or `prompt:`
        retry = node.retry
        options: dict[str, Any] = {"name": node_id, "task_run_name": node_id}
        if retry and retry.max_attempts > 1:
            options.update(retries=retry.max_attempts - 1, retry_delay_seconds=retry.delay_s)
        if node.timeout_s:
            options["timeout_seconds"] = node.timeout_s
        return node_task.with_options(**options).submit(
            node_id,
            mode,
            payload,
            self.loaded.name,
            self.run_id,
            self.loaded.spec.model,
            self.trusted_paths,
        )

    def collect(self, node_id: str, future) -> None:
        future.wait()
        state = future.state
        attempts = _attempts.pop((self.run_id, node_id), 1)
        value = state.result(raise_on_failure=False)
        if state.is_completed():
            self.outputs[node_id] = value
            self.results[node_id] = NodeResult(status="completed", output=value, attempts=attempts)
        else:
            error = (
                f"{type(value).__name__}: {value}" if isinstance(value, BaseException) else (state.message or "failed")
            )
            error = scrub(error, self.lakehouse.settings.secret_values())
            self.results[node_id] = NodeResult(status="failed", error=error, attempts=attempts)

    def execute(self) -> RunResult:
        order = self.loaded.order
        waiting = list(order)
        running: dict[cf.Future, tuple[str, Any]] = {}
        while waiting or running:
            for node_id in list(waiting):
                if all(d in self.results for d in self.loaded.graph.predecessors(node_id)):
                    waiting.remove(node_id)
                    payload = self.decide(node_id)
                    if payload is not None:
                        future = self.submit(node_id, payload)
                        running[future.wrapped_future] = (node_id, future)
            if not running:
                continue  # decisions above may have unblocked more nodes
            done, _ = cf.wait(list(running), return_when=cf.FIRST_COMPLETED)
            for wrapped in done:
                node_id, future = running.pop(wrapped)
                self.collect(node_id, future)
        failed = any(r.status == "failed" for r in self.results.values())
        nodes = {n: self.results[n] for n in order}
        return RunResult(
            run_id=self.run_id, workflow=self.loaded.name, status="failed" if failed else "completed", nodes=nodes
        )

    def attach_ops_artifact(self) -> None:
        rows = [
            {k: op.get(k) for k in ("node_id", "mode", "attempt", "status", "duration_ms", "error")}
            for op in self.lakehouse.observer.ring_ops(self.run_id)
        ]
        key = "ops-" + "".join(c if c.isalnum() else "-" for c in self.loaded.name.lower())
        create_table_artifact(table=rows, key=key[:100], description=f"ObservedOps of run {self.run_id}")


@flow(name="lakehouse-workflow", persist_result=False, log_prints=False)
def run_workflow_flow(
    workflow: str, inputs: dict[str, Any] | None = None, yaml_text: str | None = None, trusted_paths: bool = False
) -> dict[str, Any] | State:
    """Run a workflow by name or path (or from its YAML text); the deployable entry point. Its
    nodes' paths stay under the lakehouse's roots unless `trusted_paths` (the CLI's runs)."""
    loaded = (
        load_workflow_text(yaml_text, workflow, inputs or {}) if yaml_text else load_workflow(workflow, inputs or {})
    )
    run = _Run(loaded, str(flow_run.id), trusted_paths)
    result = run.execute()
    run.attach_ops_artifact()
    data = result.model_dump(mode="json")
    if result.status == "failed":
        failed = [n for n, r in result.nodes.items() if r.status == "failed"]
        return Failed(message=f"node(s) failed: {', '.join(failed)}", data=data)
    return data


def run_workflow(
    loaded: LoadedWorkflow, inputs: dict[str, Any] | None = None, *, trusted_paths: bool = False
) -> RunResult:
    """Run a checked workflow through Prefect and wait for it. Inputs are checked before it starts.
    `trusted_paths=True` only for the user's own process (the CLI): nodes may then name any file."""
    if inputs is not None:
        loaded = load_workflow_text(loaded.text, loaded.source, inputs)
    named = run_workflow_flow.with_options(name=loaded.name)
    state = named(
        workflow=loaded.source,
        inputs=loaded.inputs,
        yaml_text=loaded.text,
        trusted_paths=trusted_paths,
        return_state=True,
    )
    data = state.result(raise_on_failure=False)
    if isinstance(data, BaseException):
        raise WorkflowCrashed(f"workflow {loaded.name!r} crashed: {type(data).__name__}: {data}") from data
    return RunResult.model_validate(data)
