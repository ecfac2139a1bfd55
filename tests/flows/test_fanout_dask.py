"""`for_each` items as task runs on a Dask LocalCluster (prefect-dask), against the real Prefect server."""

from __future__ import annotations

import pytest

from flows.loader import load_workflow_text
from flows.runner import run_workflow
from lakehouse.config import reset_settings
from tests.fixtures.runs import item_ops

pytestmark = pytest.mark.prefect

GREET = """
name: fanout-dask
inputs:
  people: {type: array, default: [{name: ada}, {name: bob}, {name: cy}, {name: di}]}
nodes:
  - id: greet
    mode: fixture.upper
    for_each: $inputs.people
    with: {text: "$index: $item.name"}
"""


def test_for_each_items_run_on_dask_workers_in_order(prefect_server, lh_home, monkeypatch):
    monkeypatch.setenv("LH_DASK_ADDRESS", "local:2")  # `run_workflow` then hands the run's tasks to Dask
    reset_settings()
    loaded = load_workflow_text(GREET, "<test>", {})
    result = run_workflow(loaded)
    reset_settings()
    greet = result.nodes["greet"]
    assert (result.status, greet.status) == ("completed", "completed")
    assert greet.output == [{"text": "0: ADA"}, {"text": "1: BOB"}, {"text": "2: CY"}, {"text": "3: DI"}]
    # the workers (separate processes, same LH_HOME) recorded one op per item
    assert sorted(item_ops(result.run_id, "greet")) == [0, 1, 2, 3]
