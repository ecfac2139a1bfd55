"""What Prefect ships to its API's log table (the UI's run logs) never holds a secret: a node's failure
is logged with its state, and a model's reply may quote the provider key it was sent."""

from __future__ import annotations

import json

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName, LogFilter, LogFilterFlowRunId
from prefect.logging import get_run_logger
from prefect.logging.handlers import APILogHandler

from flows.loader import load_workflow_text
from flows.runner import run_workflow
from lakehouse.config import reset_settings

pytestmark = pytest.mark.prefect

KEY = "sk-live-abcdef0123456789"

WORKFLOW = """
name: {name}
model: fake
nodes:
  - id: judge
    prompt: "Answer in JSON"
    output_schema: {{type: object, properties: {{v: {{type: string}}}}, required: [v]}}
"""


@pytest.fixture
def keyed_model(fake_llm, monkeypatch, lh_home):
    monkeypatch.setenv("LH_TEST_LOGS_KEY", KEY)
    tiers = {"fake": {"model": "openai/fake-model", "api_base": fake_llm.url, "api_key_env": "LH_TEST_LOGS_KEY"}}
    monkeypatch.setenv("LH_MODELS", json.dumps({"tiers": tiers}))
    reset_settings()
    yield fake_llm
    reset_settings()


def _logs_of(flow_name: str) -> list[str]:
    """Every line Prefect's API holds for the runs of flow `flow_name`."""
    APILogHandler().flush()  # the API log worker ships in batches
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])))
        ids = [run.id for run in runs]
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)), limit=200)
    assert ids
    return [log.message for log in logs]


def test_a_failed_node_quoting_the_key_is_logged_masked(prefect_server, keyed_model):
    keyed_model.reply = lambda body: f"the key is {KEY}"
    result = run_workflow(load_workflow_text(WORKFLOW.format(name="logs-masked-node"), "logs.yaml", {}))
    assert result.nodes["judge"].status == "failed"
    logs = _logs_of("logs-masked-node")
    failures = [text for text in logs if "Task run failed" in text]
    assert failures and all("it starts: 'the key is ***'" in text for text in failures), logs
    assert not [text for text in failures if "NoneType: None" in text]
    assert not [text for text in logs if KEY in text], logs


def test_a_run_log_line_and_its_traceback_are_masked(prefect_server, keyed_model):
    @flow(name="logs-masked-direct", persist_result=False)
    def speaks() -> None:
        logger = get_run_logger()
        logger.warning("calling with %s", KEY)
        try:
            raise RuntimeError(f"provider refused key {KEY}")
        except RuntimeError:
            logger.exception("the call failed")

    speaks()
    logs = _logs_of("logs-masked-direct")
    assert "calling with ***" in logs, logs
    [failure] = [text for text in logs if text.startswith("the call failed")]
    assert "RuntimeError: provider refused key ***" in failure
    assert not [text for text in logs if KEY in text], logs
