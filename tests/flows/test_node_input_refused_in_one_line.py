"""A node whose `with:` the mode's input model refuses at run time (an upstream output out of the
mode's range; a run input is refused before the run, test_workflow_with_input_checked_before_run.py)
failed with pydantic's raw pages: "1 validation error for SleepIn\\nseconds\\n  Input
should be ... [type=less_than_equal, ...]\\n    For further information visit https://...". The run
result says it in one line naming the field, as every other surface does."""

from __future__ import annotations

import pytest

from flows.loader import load_workflow_text
from flows.runner import run_workflow

pytestmark = pytest.mark.prefect

TYPED = """
name: typed
inputs:
  secs: {type: number, required: true}
nodes:
  - {id: given, mode: fixture.echo, with: {value: $inputs.secs}}
  - id: nap
    mode: fixture.sleep
    with: {seconds: $given.output.value}
    depends_on: [given]
"""


def test_a_refused_input_is_one_line_naming_the_field(lh_home):
    result = run_workflow(load_workflow_text(TYPED, "typed.yaml", {"secs": 99999}), trusted_paths=True)
    assert result.status == "failed"
    error = result.nodes["nap"].error
    assert error == "ValidationError: field 'seconds': Input should be less than or equal to 3600"
