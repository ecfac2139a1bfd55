"""A resume of a run whose workflow file changed since is refused (exit 1, before any flow run)
unless `--allow-changed`; then only the changed nodes and their downstream run again."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.cli import invoke_cli

pytestmark = pytest.mark.prefect

WORKFLOW = """
name: resume-changed
nodes:
  - {id: start, mode: fixture.echo, with: {value: hello}}
  - {id: middle, mode: fixture.echo, depends_on: [start], with: {value: $start.output.value}}
  - {id: end, mode: fixture.upper, depends_on: [middle], with: {text: $middle.output.value}}
  - {id: aside, mode: fixture.echo, depends_on: [start], with: {value: aside}}
"""


def _manifests() -> list[str]:
    """Every run's manifest (a flow run writes its own before any node runs)."""
    from flows.runner import current_lakehouse

    return [k for k in current_lakehouse().store.list("_runs/") if k.endswith("/manifest.json")]


def test_changed_workflow_is_refused_unless_allow_changed(prefect_server, lh_home, tmp_path):
    from flows.runner import current_lakehouse

    path = tmp_path / "changed.yaml"
    path.write_text(WORKFLOW)
    parent = json.loads(invoke_cli("workflow", "run", str(path), "--json").stdout)
    path.write_text(WORKFLOW.replace("{value: $start.output.value}", "{value: changed}"))

    manifests_before = _manifests()
    refused = invoke_cli("workflow", "resume", parent["run_id"], code=1)
    assert "changed since run" in refused.stderr
    assert "node(s) changed: middle." in refused.stderr
    assert "--allow-changed" in refused.stderr
    assert _manifests() == manifests_before  # refused before a flow run started

    child = json.loads(invoke_cli("workflow", "resume", parent["run_id"], "--allow-changed", "--json").stdout)
    assert child["status"] == "completed"
    assert sorted(child["reused"]) == ["aside", "start"]
    assert child["rerun"] == {"middle": "definition changed", "end": "downstream of middle"}
    assert child["nodes"]["end"]["output"] == {"text": "CHANGED"}
    ran = {op["node_id"] for op in current_lakehouse().observer.ops(run_id=child["run_id"])}
    assert ran == {"middle", "end"}
