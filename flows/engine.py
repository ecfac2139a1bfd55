"""One workflow run inside its Prefect flow: decide, submit and collect every node.

The flow's thread is the scheduler. A node whose dependencies have all finished is decided at once
(trigger rule, `when`, resume): it is skipped, reused, gated (approval) or started. A started node is
a generator of Prefect futures (one task run for a plain node, one per item for `for_each`, one per
iteration for `loop`): the scheduler waits for any future of any node, hands it back to its
generator, and submits whatever the generator yields next, until it returns the node's result.

Every `depends_on` edge is a `wait_for` (wrapped in allow_failure: whether a node runs is decided
here, by its trigger rule), so the Prefect graph shows it, also for skipped and reused nodes, which
appear as task runs in a COMPLETED state named "Skipped" / "Reused".
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Generator
from typing import Any, Literal

from prefect import Task, allow_failure
from prefect.futures import PrefectFuture
from pydantic import BaseModel, Field

from flows.errors import NodeFailed, ReferenceLookupError, WhenSyntaxError
from flows.loader import LoadedWorkflow
from flows.outputs import NodeRecord, RunStore, node_definitions, output_digest
from flows.refs import resolve
from flows.tasks import attempts, current_lakehouse, mark_task, node_task, subworkflow_task
from flows.when import compile_when, evaluate_when
from lakehouse.observe.observer import ObservedOp, now_utc

NodeStatus = Literal["completed", "failed", "skipped"]
DEFAULT_MAX_PARALLEL = 8
_log = logging.getLogger("lakehouse.workflow")
_ITEM_SCOPE = {"item", "index"}


def _absent(value: Any) -> bool:
    return value is None


class NodeResult(BaseModel):
    status: NodeStatus
    output: Any = None
    error: str | None = None
    attempts: int = 0
    # only where they apply (left out of the JSON otherwise)
    iterations: int | None = Field(default=None, exclude_if=_absent)  # loops
    items: dict[str, int] | None = Field(default=None, exclude_if=_absent)  # fan-out: item counts by status
    reused_from: str | None = Field(default=None, exclude_if=_absent)  # resume: the run whose output this is


class RunResult(BaseModel):
    run_id: str
    workflow: str
    status: Literal["completed", "failed"]
    parent_run_id: str | None = Field(default=None, exclude_if=_absent)
    nodes: dict[str, NodeResult] = Field(default_factory=dict)


Steps = Generator[list[PrefectFuture], PrefectFuture, NodeResult]


def _uses_item_scope(condition: str) -> bool:
    _, refs = compile_when(condition)
    return any(ref.scope in _ITEM_SCOPE for ref in refs.values())


class WorkflowRun:
    """The state of one flow run: which nodes are done, their outputs, results and Prefect futures."""

    def __init__(self, loaded: LoadedWorkflow, run_id: str, trusted_paths: bool = False, resume: Any = None) -> None:
        self.loaded = loaded
        self.run_id = run_id
        self.trusted_paths = trusted_paths
        self.resume = resume  # flows.resume.ResumePlan | None
        self.parent_run_id: str | None = resume.parent_run_id if resume is not None else None
        self.results: dict[str, NodeResult] = {}
        self.outputs: dict[str, Any] = {}
        self.futures: dict[str, list[PrefectFuture]] = {}  # what a dependent waits for
        self.lakehouse = current_lakehouse()
        self.runs = RunStore(self.lakehouse.store)
        self.definitions = node_definitions(loaded)
        self.tasks: dict[tuple[str, str], Task] = {}

    # ------------------------------------------------------------------ records
    def record_op(self, label: str, node_id: str, status: NodeStatus, error: str | None, attempt: int, **kw) -> None:
        self.lakehouse.observer.record(
            ObservedOp.build(
                ts_start=kw.pop("started", None) or now_utc(),
                source="workflow",
                workflow=self.loaded.name,
                run_id=self.run_id,
                node_id=label,
                mode=self.loaded.nodes[node_id].op_mode,
                attempt=attempt,
                status=status,
                error=error,
                parent_run_id=self.parent_run_id,
                summary_chars=self.lakehouse.settings.ops_summary_chars,
                secrets=self.lakehouse.settings.secret_values(),
                **kw,
            )
        )

    def finish(self, node_id: str, result: NodeResult, *, has_output: bool | None = None, stored: bool = False) -> None:
        """Keep the node's result and write its node record (output stored first) for resume.
        `stored`: its output is in the store already (a task or the parent run put it there)."""
        self.results[node_id] = result
        keep = result.status == "completed" if has_output is None else has_output
        sha = None
        if keep:
            self.outputs[node_id] = result.output
            sha = output_digest(result.output)[0] if stored else self.runs.put_output(result.output)
        record = NodeRecord(
            node_id=node_id,
            status=result.status,
            output_sha256=sha,
            error=result.error,
            attempts=result.attempts,
            definition_sha256=self.definitions.get(node_id),
            reused_from=result.reused_from,
        )
        try:
            self.runs.write_node(self.run_id, record)
        except Exception as exc:  # a lost record costs a re-run on resume, never the run itself
            _log.warning("run %s: could not write the record of node %s: %s", self.run_id, node_id, exc)

    def edges(self, node_id: str) -> list[Any]:
        return [allow_failure(f) for dep in self.loaded.graph.predecessors(node_id) for f in self.futures.get(dep, [])]

    def mark(self, node_id: str, name: str, message: str, *, failed: bool = False, label: str | None = None):
        future = self.task_for(node_id, "mark").submit(
            label or node_id, name, message, failed, wait_for=self.edges(node_id), return_state=False
        )
        self.futures.setdefault(node_id, []).append(future)
        return future

    def skip(self, node_id: str, reason: str) -> None:
        self.record_op(node_id, node_id, "skipped", reason, 0)
        self.mark(node_id, "Skipped", reason)
        self.finish(node_id, NodeResult(status="skipped", error=reason))

    # ------------------------------------------------------------------ deciding
    def blocked_by(self, node_id: str) -> str | None:
        """Why the trigger rule (or an approval's on_reject) keeps the node from running, or None."""
        node = self.loaded.nodes[node_id]
        deps = sorted(self.loaded.graph.predecessors(node_id))
        status = {d: self.results[d].status for d in deps}
        for dep in deps:
            gate = self.loaded.nodes[dep].approval
            if gate is not None and node_id in gate.on_reject:
                if status[dep] == "completed":
                    return f"{dep} was approved: its on_reject branch does not run"
                if dep in self.outputs:  # rejected (its outcome is its output): this branch runs
                    status[dep] = "completed"
        failed = [d for d in deps if status[d] == "failed"]
        skipped = [d for d in deps if status[d] == "skipped"]
        rule = node.trigger_rule
        if rule == "all_success":
            if failed:
                return f"upstream failed: {', '.join(failed)}"
            if skipped and node.on_upstream_skip == "skip":
                return f"upstream skipped: {', '.join(skipped)}"
        elif rule == "none_failed" and failed:
            return f"upstream failed: {', '.join(failed)}"
        elif rule == "one_success" and deps and not any(status[d] == "completed" for d in deps):
            return f"no upstream completed: {', '.join(deps)}"
        return None

    def start(self, node_id: str) -> Steps | None:
        """Decide the node; returns its steps if it runs as Prefect tasks, None if it is settled."""
        node = self.loaded.nodes[node_id]
        reason = self.blocked_by(node_id)
        if reason:
            self.skip(node_id, reason)
            return None
        if self.resume is not None and node_id in self.resume.reuse:
            reused = self.resume.reuse[node_id]
            self.mark(node_id, "Reused", f"output of run {reused.from_run}")
            reused_result = NodeResult(status="completed", output=reused.output, reused_from=reused.from_run)
            self.finish(node_id, reused_result, stored=True)
            return None
        inputs = self.loaded.inputs
        try:
            if node.when is not None and not (node.for_each and _uses_item_scope(node.when)):
                if not evaluate_when(node.when, inputs, self.outputs):
                    self.skip(node_id, f"when is false: {node.when}")
                    return None
            if node.kind == "approval":
                self.approve(node_id)
                return None
            if node.for_each is not None:
                items = resolve(node.for_each, inputs, self.outputs, field="for_each")
                if not isinstance(items, list):
                    raise NodeFailed(f"for_each {node.for_each} is not a list (got {type(items).__name__})")
                return self.fan_out(node_id, items)
            if node.loop is not None:
                return self.loop(node_id)
            return self.single(node_id, node_id, self.payload(node_id, None))
        except (ReferenceLookupError, WhenSyntaxError, NodeFailed) as exc:
            error = f"{type(exc).__name__}: {exc}"
            self.record_op(node_id, node_id, "failed", error, 1)
            self.mark(node_id, "Failed", error, failed=True)
            self.finish(node_id, NodeResult(status="failed", error=error, attempts=1))
            return None

    def payload(self, node_id: str, scope: dict[str, Any] | None) -> dict[str, Any]:
        node = self.loaded.nodes[node_id]
        value = resolve(self.loaded.payload(node_id), self.loaded.inputs, self.outputs, scope=scope)
        if node.output_schema is not None:
            from flows.contracts import schema_instruction

            value["system"] = "\n\n".join(filter(None, [value.get("system"), schema_instruction(node.output_schema)]))
        return value

    # ------------------------------------------------------------------ running
    def task_for(self, node_id: str, kind: Literal["node", "mark"]) -> Task:
        """One Prefect task per node and kind, its run named after each call's label (`NODE[i]`, …):
        `with_options` costs ~2 ms (Prefect reads the function's source), too much per item."""
        key = (node_id, kind)
        if key not in self.tasks:
            node = self.loaded.nodes[node_id]
            options: dict[str, Any] = {"name": node_id, "task_run_name": "{label}"}
            if kind == "mark":
                self.tasks[key] = mark_task.with_options(**options)
                return self.tasks[key]
            if node.retry and node.retry.max_attempts > 1:
                options.update(retries=node.retry.max_attempts - 1, retry_delay_seconds=node.retry.delay_s)
            if node.timeout_s:
                options["timeout_seconds"] = node.timeout_s
            base = subworkflow_task if node.kind == "workflow" else node_task
            self.tasks[key] = base.with_options(**options)
        return self.tasks[key]

    def submit(self, node_id: str, label: str, payload: dict[str, Any]) -> PrefectFuture:
        node = self.loaded.nodes[node_id]
        task = self.task_for(node_id, "node")
        wait_for = self.edges(node_id)
        if node.kind == "workflow":
            child = self.loaded.subworkflows[node.workflow or ""]  # checked with this workflow, by name
            return task.submit(
                label, node.workflow, payload, self.loaded.name, self.run_id, self.trusted_paths,
                self.parent_run_id, child.text, child.source, wait_for=wait_for, return_state=False,
            )  # fmt: skip
        mode = node.mode_name
        assert mode is not None  # the loader refuses a node without a kind
        return task.submit(
            label, mode, payload, self.loaded.name, self.run_id, self.loaded.spec.model, self.trusted_paths,
            self.parent_run_id, node.output_schema, wait_for=wait_for, return_state=False,
        )  # fmt: skip

    def outcome(self, run_label: str, future: PrefectFuture) -> NodeResult:
        future.wait()  # done already; this sets the final state (`.state` alone asks the API)
        state = future.state
        tries = attempts.pop((self.run_id, run_label), 1)
        value = state.result(raise_on_failure=False)
        if state.is_completed():
            return NodeResult(status="completed", output=value, attempts=tries)
        error = state.message or (f"{type(value).__name__}: {value}" if isinstance(value, BaseException) else "failed")
        return NodeResult(status="failed", error=error, attempts=tries)

    def failed_before_start(self, node_id: str, label: str, exc: Exception, prefix: str = "") -> NodeResult:
        """An item or iteration whose input cannot be resolved: its op and a Failed task run."""
        error = f"{type(exc).__name__}: {exc}"
        self.record_op(label, node_id, "failed", error, 1)
        self.mark(node_id, "Failed", error, failed=True, label=label)
        return NodeResult(status="failed", error=prefix + error, attempts=1)

    def single(self, node_id: str, label: str, payload: dict[str, Any]) -> Steps:
        future = self.submit(node_id, label, payload)
        self.futures.setdefault(node_id, []).append(future)
        yield [future]
        return self.outcome(label, future)

    def fan_out(self, node_id: str, items: list[Any]) -> Steps:
        node = self.loaded.nodes[node_id]
        limit = node.max_parallel or DEFAULT_MAX_PARALLEL
        results: list[NodeResult | None] = [None] * len(items)
        labels: dict[PrefectFuture, int] = {}
        queue = iter(range(len(items)))
        waiting = 0

        def next_batch() -> list[PrefectFuture]:
            nonlocal waiting
            batch = []
            while waiting < limit:
                index = next(queue, None)
                if index is None:
                    break
                label = f"{node_id}[{index}]"
                scope = {"item": items[index], "index": index}
                try:
                    if node.when is not None and not evaluate_when(node.when, self.loaded.inputs, self.outputs, scope):
                        reason = f"when is false: {node.when}"
                        self.record_op(label, node_id, "skipped", reason, 0)
                        self.mark(node_id, "Skipped", reason, label=label)
                        results[index] = NodeResult(status="skipped", error=reason)
                        continue
                    future = self.submit(node_id, label, self.payload(node_id, scope))
                except (ReferenceLookupError, WhenSyntaxError) as exc:  # this item fails, not the run
                    results[index] = self.failed_before_start(node_id, label, exc)
                    continue
                self.futures.setdefault(node_id, []).append(future)
                labels[future] = index
                waiting += 1
                batch.append(future)
            return batch

        batch = next_batch()
        while waiting:
            done = yield batch
            waiting -= 1
            index = labels.pop(done)
            results[index] = self.outcome(f"{node_id}[{index}]", done)
            batch = next_batch()
        finished = [r for r in results if r is not None]
        counts = {s: sum(r.status == s for r in finished) for s in ("completed", "failed", "skipped")}
        output = [r.output if r.status == "completed" else None for r in finished]
        failures = [(i, r.error) for i, r in enumerate(finished) if r.status == "failed"]
        tries = max((r.attempts for r in finished), default=0)
        if failures and not node.allow_item_failures:
            first, error = failures[0]
            message = f"{len(failures)} of {len(items)} items failed: [{first}] {error}"
            return NodeResult(status="failed", output=output, error=message, attempts=tries, items=counts)
        self.runs.put_output(output)  # its items' outputs are stored by their tasks, their list here
        return NodeResult(status="completed", output=output, attempts=tries, items=counts)

    def loop(self, node_id: str) -> Steps:
        node = self.loaded.nodes[node_id]
        spec = node.loop
        assert spec is not None
        previous: Any = None
        result = NodeResult(status="failed", error="the loop never ran")
        for iteration in range(1, spec.max_iterations + 1):
            label = f"{node_id}#{iteration}"
            scope = {"iteration": iteration, "previous": previous}
            try:
                payload = self.payload(node_id, scope)
            except ReferenceLookupError as exc:
                failed = self.failed_before_start(node_id, label, exc, prefix=f"iteration {iteration}: ")
                failed.iterations = iteration
                return failed
            future = self.submit(node_id, label, payload)
            self.futures[node_id] = [future]
            yield [future]
            result = self.outcome(label, future)
            result.iterations = iteration
            if result.status == "failed":
                result.error = f"iteration {iteration}: {result.error}"
                return result
            try:
                done = evaluate_when(spec.until, self.loaded.inputs, {**self.outputs, node_id: result.output}, scope)
            except (ReferenceLookupError, WhenSyntaxError) as exc:
                return NodeResult(status="failed", error=f"until: {type(exc).__name__}: {exc}", iterations=iteration)
            if done:
                return result
            previous = result.output
        if spec.on_limit == "complete":
            return result
        message = f"loop did not meet `until` after {spec.max_iterations} iterations: {spec.until}"
        return NodeResult(status="failed", output=result.output, error=message, iterations=spec.max_iterations)

    def approve(self, node_id: str) -> None:
        """Pause the whole run on the gate (Prefect's pause with input) until approved, rejected or timed out."""
        from flows.approval import await_approval
        from flows.spec import ApprovalOutcome

        node = self.loaded.nodes[node_id]
        assert node.approval is not None
        started = now_utc()
        try:
            outcome: ApprovalOutcome = await_approval(node_id, node.approval, self.run_id, self.loaded.name)
        except NodeFailed as exc:
            error = str(exc)
            self.record_op(node_id, node_id, "failed", error, 1, started=started)
            self.mark(node_id, "Failed", error, failed=True)
            self.finish(node_id, NodeResult(status="failed", error=error, attempts=1))
            return
        output = outcome.model_dump(mode="json")
        if outcome.approved:
            self.record_op(node_id, node_id, "completed", None, 1, started=started, output=output)
            self.mark(node_id, "Approved", f"approved{f' by {outcome.by}' if outcome.by else ''}")
            self.finish(node_id, NodeResult(status="completed", output=output, attempts=1))
            return
        error = f"rejected{f' by {outcome.by}' if outcome.by else ''}: {outcome.reason or 'no reason given'}"
        self.record_op(node_id, node_id, "failed", error, 1, started=started, output=output)
        self.mark(node_id, "Rejected", error, failed=True)
        self.finish(node_id, NodeResult(status="failed", output=output, error=error, attempts=1), has_output=True)

    # ------------------------------------------------------------------ the loop
    def execute(self) -> RunResult:
        order = self.loaded.order
        waiting = list(order)
        running: dict[PrefectFuture, tuple[str, Steps]] = {}
        finished: queue.SimpleQueue[PrefectFuture] = queue.SimpleQueue()  # fed by the task runner's threads

        def advance(node_id: str, steps: Steps, sent: PrefectFuture | None) -> None:
            try:
                new = next(steps) if sent is None else steps.send(sent)
            except StopIteration as stop:
                self.finish(node_id, stop.value, stored=True)  # by its tasks; a fan-out stores its list
                return
            for future in new:
                running[future] = (node_id, steps)
                future.add_done_callback(finished.put)

        while waiting or running:
            ready = [n for n in waiting if all(d in self.results for d in self.loaded.graph.predecessors(n))]
            for node_id in ready:
                waiting.remove(node_id)
                steps = self.start(node_id)
                if steps is not None:
                    advance(node_id, steps, None)
            if ready:
                continue  # settled nodes may have unblocked others
            if not running:
                break  # cannot happen in a checked DAG; never spin
            future = finished.get()
            node_id, steps = running.pop(future)
            advance(node_id, steps, future)
        failed = any(r.status == "failed" for r in self.results.values())
        return RunResult(
            run_id=self.run_id,
            workflow=self.loaded.name,
            status="failed" if failed else "completed",
            parent_run_id=self.parent_run_id,
            nodes={n: self.results[n] for n in order if n in self.results},
        )
