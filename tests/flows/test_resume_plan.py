"""`plan_resume` over run records written by hand (the runner's records, without running Prefect):
which nodes keep their parent's output, which run again and why."""

from __future__ import annotations

import subprocess
import sys
from typing import Literal

import pytest

from flows.errors import ResumeRefused, RunRecordNotFound, UnknownResumeNode
from flows.loader import load_workflow_text
from flows.outputs import NodeRecord, RunManifest, RunStore, node_definitions
from flows.resume import plan_resume
from flows.run_lock import is_running, running
from lakehouse.observe.observer import ObservedOp, now_utc

CHAIN = """
name: resume-chain
nodes:
  - {id: start, mode: fixture.echo, with: {value: one}}
  - {id: middle, mode: fixture.upper, depends_on: [start], with: {text: $start.output.value}}
  - {id: end, mode: fixture.echo, depends_on: [middle], with: {value: $middle.output.text}}
  - {id: aside, mode: fixture.echo, depends_on: [start], with: {value: aside}}
"""

OUTPUTS = {"start": {"value": "one"}, "middle": {"text": "ONE"}, "end": {"value": "ONE"}, "aside": {"value": "aside"}}


def _parent(
    lakehouse, text: str = CHAIN, run_id: str = "parent-run", **statuses: Literal["completed", "failed", "skipped"]
):
    """A parent run's manifest plus a node record for each node in `statuses` (completed ones with
    their output stored)."""
    loaded = load_workflow_text(text, "chain.yaml")
    store = RunStore(lakehouse.store)
    definitions = node_definitions(loaded)
    store.write_manifest(
        RunManifest(run_id=run_id, workflow=loaded.name, source="chain.yaml", text=text, node_definitions=definitions)
    )
    for node_id, status in statuses.items():
        sha = store.put_output(OUTPUTS[node_id]) if status == "completed" else None
        store.write_node(
            run_id,
            NodeRecord(node_id=node_id, status=status, output_sha256=sha, definition_sha256=definitions[node_id]),
        )
    return loaded


def test_failed_node_and_its_downstream_run_completed_ones_are_reused(lakehouse):
    loaded = _parent(lakehouse, start="completed", aside="completed", middle="failed", end="skipped")
    plan = plan_resume(lakehouse, "parent-run", loaded)
    assert plan.parent_run_id == "parent-run"
    assert plan.rerun == {"middle": "failed", "end": "downstream of middle"}
    assert set(plan.reuse) == {"start", "aside"}
    assert plan.reuse["start"].output == {"value": "one"}
    assert plan.reuse["start"].from_run == "parent-run"
    assert plan.reuse["start"].output_sha256 == RunStore(lakehouse.store).put_output({"value": "one"})


def test_from_node_reruns_it_and_everything_downstream(lakehouse):
    loaded = _parent(lakehouse, start="completed", middle="completed", end="completed", aside="completed")
    plan = plan_resume(lakehouse, "parent-run", loaded, from_node="middle")
    assert plan.rerun == {"middle": "--from middle", "end": "downstream of middle"}
    assert set(plan.reuse) == {"start", "aside"}


def test_never_started_and_skipped_nodes_run(lakehouse):
    loaded = _parent(lakehouse, start="completed", middle="completed", aside="skipped")
    plan = plan_resume(lakehouse, "parent-run", loaded)
    assert plan.rerun == {"end": "never started", "aside": "skipped"}
    assert set(plan.reuse) == {"start", "middle"}


def test_a_killed_run_without_a_node_record_reuses_the_nodes_completed_op(lakehouse):
    """SIGKILL between a node's op and its record: the op (whose output is stored) stands in."""
    loaded = _parent(lakehouse, start="completed")
    store = RunStore(lakehouse.store)
    store.put_output(OUTPUTS["middle"])  # the runner stores the output before it records the op
    for node_id, output in (("middle", OUTPUTS["middle"]), ("end", {"value": "never stored"})):
        lakehouse.observer.record(
            ObservedOp.build(
                ts_start=now_utc(),
                source="workflow",
                workflow=loaded.name,
                run_id="parent-run",
                node_id=node_id,
                status="completed",
                output=output,
            )
        )
    plan = plan_resume(lakehouse, "parent-run", loaded)
    assert set(plan.reuse) == {"start", "middle"}
    assert plan.reuse["middle"].output == {"text": "ONE"}
    # `end`'s op names an output that is not in the store: it runs again
    assert plan.rerun == {"end": "output missing", "aside": "never started"}


def test_an_event_naming_a_killed_runs_node_is_not_taken_for_its_result(lakehouse):
    """`POST /v1/observer/event` records ops anyone may send, with any run and node id: a completed
    one for a node the killed run never finished must not make resume reuse an output it chose."""
    loaded = _parent(lakehouse, start="completed")
    forged = {"text": "FORGED"}
    RunStore(lakehouse.store).put_output(forged)  # any output a caller can have a run produce
    lakehouse.observer.record(
        ObservedOp.build(
            ts_start=now_utc(),
            source="event",
            mode="fixture.upper",
            workflow=loaded.name,
            run_id="parent-run",
            node_id="middle",
            status="completed",
            output=forged,
        )
    )
    plan = plan_resume(lakehouse, "parent-run", loaded)
    assert set(plan.reuse) == {"start"}
    assert plan.rerun == {"middle": "never started", "end": "downstream of middle", "aside": "never started"}


HOLD_THE_RUN = """
import pathlib, sys, time
from flows.run_lock import running
with running(pathlib.Path(sys.argv[1]), "parent-run"):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_run_still_running_is_not_resumed_and_a_killed_one_is(lakehouse, lh_home):
    """Resuming a run still going ran its nodes in flight a second time beside it ("never
    started"); the running process holds the run's flock, which the kernel drops when it dies."""
    loaded = _parent(lakehouse, start="completed")
    with running(lh_home, "parent-run"):
        with pytest.raises(
            ResumeRefused, match=r"^run parent-run is still running: its nodes in flight would run twice"
        ):
            plan_resume(lakehouse, "parent-run", loaded)
    assert "start" in plan_resume(lakehouse, "parent-run", loaded).reuse  # it ended

    holder = subprocess.Popen([sys.executable, "-c", HOLD_THE_RUN, str(lh_home)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert is_running(lh_home, "parent-run")
        holder.kill()  # SIGKILL: its Prefect flow run would stay "Running" for ever
        holder.wait(timeout=30)
        assert not is_running(lh_home, "parent-run")
        assert "start" in plan_resume(lakehouse, "parent-run", loaded).reuse
    finally:
        holder.kill()


def test_a_reused_node_points_at_the_run_that_executed_it(lakehouse):
    loaded = _parent(lakehouse, run_id="grandparent", start="completed")
    store = RunStore(lakehouse.store)
    manifest = store.read_manifest("grandparent").model_copy(update={"run_id": "parent-run"})
    store.write_manifest(manifest)
    sha = store.put_output(OUTPUTS["start"])
    store.write_node(
        "parent-run", NodeRecord(node_id="start", status="completed", output_sha256=sha, reused_from="grandparent")
    )
    plan = plan_resume(lakehouse, "parent-run", loaded)
    assert plan.reuse["start"].from_run == "grandparent"


def test_allow_changed_reruns_the_changed_nodes_and_their_downstream(lakehouse):
    _parent(lakehouse, start="completed", middle="completed", end="completed", aside="completed")
    changed = load_workflow_text(CHAIN.replace("{value: aside}", "{value: aside again}"), "chain.yaml")
    with pytest.raises(ResumeRefused, match=r"node\(s\) changed: aside\..*--allow-changed"):
        plan_resume(lakehouse, "parent-run", changed)
    plan = plan_resume(lakehouse, "parent-run", changed, allow_changed=True)
    assert plan.rerun == {"aside": "definition changed"}
    assert set(plan.reuse) == {"start", "middle", "end"}


def test_a_changed_sub_workflow_makes_its_node_a_changed_one(lakehouse, lh_home):
    """Only the parent's node spec was hashed: resume reused a sub-workflow node's output from the
    child as it was, after the child's file changed."""
    folder = lh_home / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    child = "name: resume-child\nnodes:\n  - {id: v, mode: fixture.echo, with: {value: version-1}}\n"
    (folder / "resume-child.yaml").write_text(child)
    text = "name: resume-parent\nnodes:\n  - {id: sub, workflow: resume-child}\n"
    loaded = load_workflow_text(text, "parent.yaml")
    store = RunStore(lakehouse.store)
    definitions = node_definitions(loaded)
    store.write_manifest(
        RunManifest(
            run_id="parent-run", workflow=loaded.name, source="parent.yaml", text=text, node_definitions=definitions
        )
    )
    sha = store.put_output({"v": {"value": "version-1"}})
    record = NodeRecord(node_id="sub", status="completed", output_sha256=sha, definition_sha256=definitions["sub"])
    store.write_node("parent-run", record)
    assert set(plan_resume(lakehouse, "parent-run", load_workflow_text(text, "parent.yaml")).reuse) == {"sub"}

    (folder / "resume-child.yaml").write_text(child.replace("version-1", "version-2"))
    changed = load_workflow_text(text, "parent.yaml")
    with pytest.raises(ResumeRefused, match=r"node\(s\) changed: sub\..*--allow-changed"):
        plan_resume(lakehouse, "parent-run", changed)
    assert plan_resume(lakehouse, "parent-run", changed, allow_changed=True).rerun == {"sub": "definition changed"}


def test_added_and_removed_nodes_are_named(lakehouse):
    _parent(lakehouse, start="completed", middle="completed", end="completed", aside="completed")
    text = CHAIN.replace("  - {id: aside, mode: fixture.echo, depends_on: [start], with: {value: aside}}\n", "")
    text += "  - {id: extra, mode: fixture.echo, depends_on: [middle], with: {value: new}}\n"
    changed = load_workflow_text(text, "chain.yaml")
    with pytest.raises(ResumeRefused, match=r"added: extra; removed: aside"):
        plan_resume(lakehouse, "parent-run", changed)
    plan = plan_resume(lakehouse, "parent-run", changed, allow_changed=True)
    assert plan.rerun == {"extra": "definition changed"}


def test_a_text_only_change_is_refused_too(lakehouse):
    _parent(lakehouse, start="completed", middle="completed", end="completed", aside="completed")
    changed = load_workflow_text(CHAIN + "# a comment\n", "chain.yaml")
    with pytest.raises(ResumeRefused, match=r"the workflow text changed \(no node definition did\)"):
        plan_resume(lakehouse, "parent-run", changed)
    assert plan_resume(lakehouse, "parent-run", changed, allow_changed=True).rerun == {}


def test_unknown_from_node_suggests_a_name(lakehouse):
    loaded = _parent(lakehouse, start="completed")
    with pytest.raises(UnknownResumeNode, match=r"--from 'midle': no such node .*did you mean 'middle'"):
        plan_resume(lakehouse, "parent-run", loaded, from_node="midle")


def test_unknown_run_names_the_run_and_how_to_list_runs(lakehouse):
    loaded = load_workflow_text(CHAIN, "chain.yaml")
    with pytest.raises(
        RunRecordNotFound,
        match=r"no record of run 'nope'.*records were removed .`lakehouse gc` drops those of runs older than "
        r"history_kept_days.*lakehouse ops list",
    ):
        plan_resume(lakehouse, "nope", loaded)


@pytest.mark.parametrize("run_id", ["../parent-run", "outputs/ab", "..", "", "a\x00b", "a\nb", "a b"])
def test_a_run_id_that_is_not_one_key_segment_names_no_run(lakehouse, run_id):
    loaded = _parent(lakehouse, start="completed")
    with pytest.raises(RunRecordNotFound, match=r"no record of run .*: not a run id"):
        plan_resume(lakehouse, run_id, loaded)
