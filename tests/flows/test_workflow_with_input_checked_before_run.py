"""A node whose `with:` takes a run input the mode's field refuses (`seconds: $inputs.secs`, 0..3600,
given 99999) failed only when the node ran, after a Prefect server had started and the nodes before
it had run. The run's inputs are known before any node runs: the value is checked then, and the
refusal names the file, the node, the field and the input it came from."""

from __future__ import annotations

import pytest

from flows.errors import WorkflowError
from flows.loader import load_workflow
from tests.fixtures.cli import invoke_cli

TYPED = """
name: typed
inputs:
  secs: {type: number, required: true}
  label: {type: string, default: "x"}
nodes:
  - {id: first, mode: fixture.echo, with: {value: $inputs.label}}
  - {id: nap, mode: fixture.sleep, with: {seconds: $inputs.secs}, depends_on: [first]}
  - {id: quoted, mode: fixture.echo, with: {value: "waited $inputs.secs s"}, depends_on: [nap]}
"""


@pytest.fixture
def typed(tmp_path):
    path = tmp_path / "typed.yaml"
    path.write_text(TYPED)
    return path


def test_a_refused_input_value_is_named_before_any_node_runs(typed, lh_home):
    with pytest.raises(
        WorkflowError,
        match=r"typed\.yaml:nap: with\.seconds: Input should be less than or equal to "
        r"3600 \(got 99999\.0 from \$inputs\.secs\)",
    ):
        load_workflow(typed, {"secs": 99999})
    done = invoke_cli("workflow", "run", str(typed), "-i", "secs=99999", code=1)
    assert "with.seconds: Input should be less than or equal to 3600 (got 99999.0 from $inputs.secs)" in done.stderr
    assert not (lh_home / "ops.jsonl").exists() or "typed" not in (lh_home / "ops.jsonl").read_text()


def test_values_the_fields_accept_load_as_before(typed):
    loaded = load_workflow(typed, {"secs": 0})
    assert loaded.inputs == {"secs": 0.0, "label": "x"}
