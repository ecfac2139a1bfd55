"""A run is resumed once: a second resume of it (a double click, two tabs, the command run twice)
ran its failed node and what depends on it again, a side effect each time. Refused now, naming the
resume to resume instead; two resumes at once: one runs, the other is refused before any node."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.cli import invoke_cli

pytestmark = pytest.mark.prefect

WORKFLOW = """
name: resume-once
nodes:
  - {id: start, mode: fixture.echo, with: {value: hello}}
  - {id: need, mode: fixture.require_file, depends_on: [start], with: {path: flag.txt}}
  - {id: effect, mode: fixture.upper, depends_on: [need], with: {text: $start.output.value}}
"""


def _effects(run_ids: set[str]) -> int:
    from flows.runner import current_lakehouse

    ops = current_lakehouse().observer.ops()
    return sum(op["node_id"] == "effect" and op["status"] == "completed" and op["run_id"] in run_ids for op in ops)


@pytest.fixture
def failed_run(prefect_server, lh_home, tmp_path) -> str:
    lh_home.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "resume-once.yaml"
    path.write_text(WORKFLOW)
    parent = json.loads(invoke_cli("workflow", "run", str(path), "--json", code=1).stdout)
    (lh_home / "flag.txt").write_text("ready")
    return parent["run_id"]


def test_a_second_resume_is_refused_and_names_the_first(failed_run):
    child = json.loads(invoke_cli("workflow", "resume", failed_run, "--json").stdout)
    assert child["status"] == "completed"
    again = invoke_cli("workflow", "resume", failed_run, code=1)
    assert f"run {failed_run} was resumed already, by run {child['run_id']}: resume {child['run_id']} instead" in (
        " ".join(again.stderr.split())
    )
    assert _effects({child["run_id"]}) == 1
    # named on purpose, a node runs again
    rerun = json.loads(invoke_cli("workflow", "resume", failed_run, "--from", "effect", "--json").stdout)
    assert rerun["status"] == "completed" and _effects({child["run_id"], rerun["run_id"]}) == 2


def test_two_resumes_at_once_run_the_side_effect_once(failed_run, prefect_server, lh_home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LH_")} | {
        "LH_HOME": str(lh_home),
        "PREFECT_API_URL": prefect_server,
    }
    cli = str(Path(sys.executable).with_name("lakehouse"))
    both = [
        subprocess.Popen(
            [cli, "workflow", "resume", failed_run, "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outcomes = [(p.wait(timeout=300), *p.communicate()) for p in both]
    codes = sorted(code for code, _out, _err in outcomes)
    said = " ".join(" ".join(err.split()) for _code, _out, err in outcomes)
    assert codes == [0, 1], outcomes
    assert f"run {failed_run} was resumed already, by run " in said
    children = {json.loads(out)["run_id"] for code, out, _err in outcomes if code == 0}
    assert _effects(children) == 1
