"""Resume a workflow run: a new flow run that reuses what its parent completed and runs the rest.

`plan_resume` decides, from the parent's durable records (flows/outputs.py: its manifest and node
records in the object store), which nodes keep their parent's output and which run again, and why:

- reused: the parent completed it with a stored output, its definition is unchanged, it is not
  `--from NODE` or downstream of it, and none of its ancestors runs again;
- runs: "failed", "skipped", "never started", "output missing", "definition changed",
  "--from X", "downstream of X, Y" (the nodes that run for a reason of their own).

A run killed with SIGKILL right after a node's op was recorded has no node record for that node:
its newest completed op of the parent run stands in, when the output it names is in the store (the
runner stores the output before it records the op). A workflow whose text or node definitions
changed since the parent ran is refused (`ResumeRefused`, 409) unless `allow_changed`; then the
changed (and added) nodes and their downstream run again. A run is resumed once (`RunStore.claim_resume`,
an atomic create, before any node of the resume runs): two resumes at once, or one after another,
would run its side effects twice; its resume can be resumed in turn, and `--from NODE` (a re-run
asked for by name) is not held to it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import networkx as nx

from flows.errors import ResumeRefused, RunRecordNotFound, UnknownResumeNode, WorkflowError
from flows.outputs import NodeRecord, RunManifest, RunStore, node_definitions

if TYPE_CHECKING:
    from flows.loader import LoadedWorkflow
    from flows.runner import RunResult
    from lakehouse.core import Lakehouse

__all__ = [
    "ReusedNode",
    "ResumePlan",
    "UnknownResumeNode",
    "plan_resume",
    "resume_workflow",
    "resume_run",
    "ResumeOutcome",
]


@dataclass(frozen=True)
class ReusedNode:
    output: Any
    output_sha256: str
    from_run: str  # the run that executed the node (a parent's parent when it reused it too)


@dataclass
class ResumePlan:
    parent_run_id: str
    reuse: dict[str, ReusedNode] = field(default_factory=dict)
    rerun: dict[str, str] = field(default_factory=dict)  # node -> why it runs again

    def view(self) -> dict[str, Any]:
        return {
            "parent_run_id": self.parent_run_id,
            "reused": list(self.reuse),
            "rerun": dict(self.rerun),
        }


def _changes(manifest: RunManifest, loaded: LoadedWorkflow, current: dict[str, str]) -> list[str]:
    """What differs between the parent's workflow and this one, one phrase each (empty: nothing)."""
    before = manifest.node_definitions
    changed = sorted(n for n in current if n in before and before[n] != current[n])
    added = sorted(n for n in current if before and n not in before)
    removed = sorted(n for n in before if n not in current)
    phrases = []
    if changed:
        phrases.append(f"node(s) changed: {', '.join(changed)}")
    if added:
        phrases.append(f"added: {', '.join(added)}")
    if removed:
        phrases.append(f"removed: {', '.join(removed)}")
    if not phrases and loaded.text != manifest.text:
        phrases.append("the workflow text changed (no node definition did)")
    return phrases


def _completed_output(
    store: RunStore, parent_run_id: str, node_id: str, record: NodeRecord | None, ops: list[dict[str, Any]] | None
) -> tuple[str, str] | str:
    """(output sha, run that executed it) if the parent completed the node with a stored output;
    else the reason it runs again."""
    if record is not None:
        if record.status != "completed":
            return record.status  # "failed" or "skipped"
        if record.output_sha256 is None or not store.has_output(record.output_sha256):
            return "output missing"
        return record.output_sha256, record.reused_from or parent_run_id
    # No node record: the runner may have been killed between the node's op and its record. Only
    # the runner's own ops count: an event (`POST /v1/observer/event`) may name any run and node.
    for op in reversed(ops or []):
        if op.get("node_id") == node_id and op.get("status") == "completed" and op.get("source") == "workflow":
            sha = op.get("output_sha256")
            if sha and store.has_output(sha):
                return sha, parent_run_id
            return "output missing"
    return "never started"


def _checked_run_id(run_id: str) -> str:
    """A run id is one key segment (Prefect's are UUIDs): anything else names no run, and must not
    reach into other records of the store."""
    odd = any(unicodedata.category(c)[0] in "CZ" for c in run_id)  # NUL, controls, spaces, line breaks
    if not run_id or odd or "/" in run_id or "\\" in run_id or run_id.strip(".") == "" or len(run_id) > 200:
        raise RunRecordNotFound(f"no record of run {run_id[:200]!r}: not a run id (see `lakehouse ops list`)")
    return run_id


def plan_resume(
    lakehouse: Lakehouse,
    parent_run_id: str,
    loaded: LoadedWorkflow,
    from_node: str | None = None,
    allow_changed: bool = False,
) -> ResumePlan:
    """Which nodes of `loaded` reuse the parent run's outputs and which run again (and why).

    Raises RunRecordNotFound (no manifest for the run), UnknownResumeNode (`from_node` is not a
    node) and ResumeRefused (the run is still running, or the workflow changed and not
    `allow_changed`)."""
    from flows.run_lock import is_running

    store = RunStore(lakehouse.store)
    manifest = store.read_manifest(_checked_run_id(parent_run_id))
    if is_running(lakehouse.settings.home_dir, parent_run_id):
        raise ResumeRefused(
            f"run {parent_run_id} is still running: its nodes in flight would run twice. Resume it once "
            "it has ended (a run whose process was killed has ended, whatever Prefect shows)",
            run_id=parent_run_id,
        )
    if from_node is not None and from_node not in loaded.nodes:
        from flows.checks import suggest

        raise UnknownResumeNode(
            f"--from {from_node!r}: no such node in workflow {loaded.name!r}{suggest(from_node, set(loaded.nodes))}"
            f" (nodes: {', '.join(loaded.order)})",
            node=from_node,
        )
    if from_node is None and (by := store.resumed_by(parent_run_id)) is not None:
        raise resumed_already(parent_run_id, by)
    current = node_definitions(loaded)
    changes = _changes(manifest, loaded, current)
    if changes and not allow_changed:
        raise ResumeRefused(
            f"workflow {loaded.name!r} changed since run {parent_run_id}: {'; '.join(changes)}. "
            "Resume with --allow-changed (HTTP: allow_changed: true) to re-run the changed nodes and "
            "everything downstream of them",
            run_id=parent_run_id,
            changes=changes,
        )
    records = store.read_nodes(parent_run_id)
    ops: list[dict[str, Any]] | None = None
    if any(n not in records for n in loaded.nodes):  # only a killed (or still running) run lacks records
        ops = lakehouse.observer.ops(run_id=parent_run_id)

    plan = ResumePlan(parent_run_id=parent_run_id)
    causes: dict[str, set[str]] = {}  # a re-run node -> the nodes that re-run for a reason of their own
    before = manifest.node_definitions
    for node_id in nx.lexicographical_topological_sort(loaded.graph):
        upstream = set().union(*(causes[d] for d in loaded.graph.predecessors(node_id) if d in causes))
        own: str | None = None
        if node_id == from_node:
            own = f"--from {from_node}"
        elif before and before.get(node_id) != current[node_id]:
            own = "definition changed"
        elif not upstream:
            found = _completed_output(store, parent_run_id, node_id, records.get(node_id), ops)
            if isinstance(found, tuple):
                sha, from_run = found
                plan.reuse[node_id] = ReusedNode(store.get_output(sha), sha, from_run)
                continue
            own = found
        if own is not None:
            causes[node_id] = {node_id}
            plan.rerun[node_id] = own
        else:
            causes[node_id] = upstream
            plan.rerun[node_id] = f"downstream of {', '.join(sorted(upstream))}"
    plan.rerun = {n: plan.rerun[n] for n in loaded.order if n in plan.rerun}
    plan.reuse = {n: plan.reuse[n] for n in loaded.order if n in plan.reuse}
    return plan


def resumed_already(parent_run_id: str, by: str) -> ResumeRefused:
    """A run is resumed once: a second resume would run its failed nodes and what depends on them
    (a rating, a write) again; its resume reuses what it completed."""
    return ResumeRefused(
        f"run {parent_run_id} was resumed already, by run {by}: resume {by} instead (it reuses what it "
        "completed); resuming this one again would run its failed nodes and their downstream twice "
        "(`--from NODE`, HTTP `from_node`, re-runs from a node you name, on purpose)",
        run_id=parent_run_id,
        resumed_by=by,
    )


def load_parent(manifest: RunManifest) -> LoadedWorkflow:
    """The workflow to resume: its file (or shipped/saved name) when that still resolves, else the
    text the parent ran; with the parent's inputs."""
    from flows.loader import load_workflow, load_workflow_text, resolve_workflow_path

    try:
        resolve_workflow_path(manifest.source)
    except WorkflowError:
        return load_workflow_text(manifest.text, manifest.source, manifest.inputs)
    return load_workflow(manifest.source, manifest.inputs)


@dataclass
class ResumeOutcome:
    result: RunResult
    plan: ResumePlan

    def view(self) -> dict[str, Any]:
        """`workflow run --json`'s object plus the parent and the reused nodes."""
        data = self.result.model_dump(mode="json")
        data["parent_run_id"] = self.plan.parent_run_id
        data["reused"] = list(self.plan.reuse)
        data["rerun"] = dict(self.plan.rerun)
        return data


def resume_run(
    run_id: str, *, from_node: str | None = None, allow_changed: bool = False, trusted_paths: bool
) -> ResumeOutcome:
    """Check the resume (before any flow run starts), then run it; the result and the plan."""
    from flows.runner import current_lakehouse, run_workflow

    lakehouse = current_lakehouse()
    manifest = RunStore(lakehouse.store).read_manifest(_checked_run_id(run_id))
    loaded = load_parent(manifest)
    plan = plan_resume(lakehouse, run_id, loaded, from_node=from_node, allow_changed=allow_changed)
    result = run_workflow(
        loaded,
        trusted_paths=trusted_paths,
        resume_from=run_id,
        from_node=from_node,
        allow_changed=allow_changed,
    )
    return ResumeOutcome(result, plan)


def resume_workflow(
    run_id: str, *, from_node: str | None = None, allow_changed: bool = False, trusted_paths: bool
) -> RunResult:
    """Resume run `run_id` as a new flow run (see the module's docstring). Raises RunRecordNotFound,
    UnknownResumeNode, ResumeRefused or WorkflowError before any flow run starts."""
    return resume_run(run_id, from_node=from_node, allow_changed=allow_changed, trusted_paths=trusted_paths).result
