"""Console pages Workflows and System in a real browser against a real `lakehouse api` talking to
the session's Prefect server: a workflow runs from its page and its node states update while it
runs; a failing one shows `failed` and the error; the System page's ops tail, left open, shows
the new rows of that run; the plan's SVG has one box per node."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.fixtures.browser import shoot
from tests.fixtures.http import api_process

pytestmark = pytest.mark.prefect

# a user workflow slow enough to be seen running (LH_HOME/workflows)
SLOW = """\
name: ui-slow
description: Three steps with a pause in the middle, for watching a run.
inputs:
  text: {type: string, default: "slow and steady"}
  seconds: {type: number, default: 1.5}
nodes:
  - id: first
    mode: fixture.echo
    with: {value: $inputs.text}
  - id: wait
    mode: fixture.sleep
    depends_on: [first]
    with: {seconds: $inputs.seconds}
  - id: last
    mode: fixture.upper
    depends_on: [wait, first]
    with: {text: $first.output.value}
"""


# the child's subflow starts first and inherits the run's tag: the page followed the child
SUB_THEN_GATE = """\
name: ui-sub-then-gate
nodes:
  - {id: hello, workflow: hello-lakehouse, with: {text: from the parent}}
  - {id: gate, approval: {message: Keep the child's answer?}, depends_on: [hello]}
  - {id: done, mode: fixture.echo, depends_on: [gate], with: {value: $hello.output.join.value}}
"""


@pytest.fixture(scope="module")
def flows_api(prefect_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("ui-flows")
    (root / "home" / "workflows").mkdir(parents=True)
    (root / "home" / "workflows" / "ui-slow.yaml").write_text(SLOW)
    (root / "home" / "workflows" / "ui-sub-then-gate.yaml").write_text(SUB_THEN_GATE)
    with api_process(root, env={"PREFECT_API_URL": prefect_server}) as (url, _proc):
        yield url


def node_state(page, node: str):
    return page.locator(f'#run-live tr[data-node="{node}"] .badge')


def test_the_list_and_the_plan(console, flows_api):
    console.goto(flows_api + "/ui/workflows")
    row = console.get_by_role("row", name=re.compile("^hello-lakehouse "))
    expect(row).to_contain_text("The smallest useful workflow")
    expect(row).to_contain_text("3")
    expect(console.get_by_role("row", name=re.compile("^ui-slow "))).to_contain_text("yours")
    shoot(console, "workflows-list")

    row.get_by_role("link", name="hello-lakehouse").click()
    expect(console.get_by_role("heading", name="hello-lakehouse")).to_be_visible()
    boxes = console.locator("svg.dag g.node")
    expect(boxes).to_have_count(3)
    assert sorted(boxes.evaluate_all("els => els.map(e => e.dataset.node)")) == ["join", "shout", "start"]
    expect(console.locator("svg.dag path.edge")).to_have_count(3)  # start->shout, start->join, shout->join
    expect(console.locator("svg.dag g.node[data-node=shout]")).to_contain_text("fixture.upper")
    console.get_by_role("button", name="Validate again").click()
    expect(console.locator("#validate-result")).to_contain_text("Valid: 3 nodes in 3 layers")
    shoot(console, "workflows-plan")


def test_a_run_updates_its_node_states_and_the_ops_tail_shows_it(console, flows_api):
    system = console.context.new_page()
    system.goto(flows_api + "/ui/system")
    expect(system.get_by_role("heading", name="Ops tail")).to_be_visible()

    console.goto(flows_api + "/ui/workflows/ui-slow")
    console.get_by_label(re.compile("^text")).fill("watched from the page")
    console.get_by_role("button", name="Run ui-slow").click()
    expect(console).to_have_url(re.compile(r"/ui/workflows/runs/[0-9a-f]{32}$"), timeout=30_000)
    # while `wait` sleeps, `first` is already completed: the page updates without a reload
    expect(node_state(console, "first")).to_have_text("completed", timeout=60_000)
    expect(node_state(console, "last")).to_have_text(re.compile("pending|running|completed"))
    shoot(console, "workflows-run-in-progress")
    expect(console.get_by_test_id("run-status")).to_have_text("completed", timeout=60_000)
    for node in ("first", "wait", "last"):
        expect(node_state(console, node)).to_have_text("completed")
    expect(console.get_by_role("link", name="Open in the Prefect UI")).to_have_attribute(
        "href", re.compile(r"/runs/flow-run/[0-9a-f-]{36}$")
    )
    flow_run_id = console.locator("#run-live .status-line code").nth(1).inner_text()
    console.get_by_text("Outputs (3 nodes)").click()
    expect(console.locator("#run-live details")).to_contain_text("WATCHED FROM THE PAGE")
    shoot(console, "workflows-run-done")

    # the System page was never reloaded: its tail polled the run's ops in
    tail = system.locator("#ops-tail")
    expect(tail.locator(f'a[title="{flow_run_id}"]')).to_have_count(3, timeout=15_000)
    expect(tail).to_contain_text("fixture.sleep")
    expect(system.locator("#ops-stats")).to_contain_text("fixture.echo", timeout=15_000)
    shoot(system, "system")
    system.close()


def test_a_failing_run_shows_failed_and_the_error(console, flows_api):
    console.goto(flows_api + "/ui/workflows/fixture-branches")
    console.get_by_role("button", name="Run fixture-branches").click()
    expect(console.get_by_test_id("run-status")).to_have_text("failed", timeout=60_000)
    expect(node_state(console, "broken")).to_have_text("failed")
    expect(console.locator('#run-live tr[data-node="broken"]')).to_contain_text(
        "intentional failure in the broken branch"
    )
    expect(node_state(console, "after_broken")).to_have_text("skipped")
    expect(node_state(console, "join")).to_have_text("completed")
    expect(console.get_by_role("button", name="Resume this run")).to_be_visible()
    shoot(console, "workflows-run-failed")


def test_bad_input_is_shown_inline(console, flows_api):
    console.goto(flows_api + "/ui/workflows/ui-slow")
    console.get_by_label(re.compile("^seconds")).fill("")
    console.get_by_label(re.compile("^seconds")).evaluate("el => { el.type = 'text'; el.value = 'soon'; }")
    console.get_by_role("button", name="Run ui-slow").click()
    expect(console.locator("#run-result .error")).to_contain_text("inputs.seconds", timeout=30_000)
    expect(console.locator("#run-result .error")).to_contain_text("expected number")
    expect(console).to_have_url(re.compile("/ui/workflows/ui-slow$"))


def test_a_failed_run_resumes_from_the_page(console, flows_api):
    console.goto(flows_api + "/ui/workflows/fixture-branches")
    console.get_by_role("button", name="Run fixture-branches").click()
    expect(console.get_by_test_id("run-status")).to_have_text("failed", timeout=60_000)
    first = console.url
    console.get_by_role("button", name="Resume this run").click()
    expect(console).not_to_have_url(first, timeout=30_000)
    expect(console.locator("#run-live .status-line")).to_contain_text("resumes", timeout=30_000)
    # the same input fails the same node again; the rest is reused or re-run
    expect(console.get_by_test_id("run-status")).to_have_text("failed", timeout=60_000)
    expect(node_state(console, "broken")).to_have_text("failed")


def test_an_approval_is_answered_from_the_page(console, flows_api):
    console.goto(flows_api + "/ui/workflows/approval-demo")
    console.get_by_label(re.compile("^text")).fill("page notes")
    console.get_by_role("button", name="Run approval-demo").click()
    expect(console.get_by_test_id("run-status")).to_have_text("paused", timeout=60_000)
    expect(node_state(console, "gate")).to_have_text("waiting")
    expect(console.locator("#run-live")).to_contain_text("Publish the prepared text?")
    console.get_by_role("button", name="Reject").click()  # no reason: refused, shown inline
    expect(console.locator("#run-live .error")).to_contain_text("a rejection needs a reason", timeout=30_000)
    console.get_by_label("By").fill("erin")
    shoot(console, "workflows-run-paused")
    console.get_by_role("button", name="Approve").click()
    expect(console.get_by_test_id("run-status")).to_have_text("completed", timeout=60_000)
    expect(node_state(console, "publish")).to_have_text("completed")
    expect(node_state(console, "notify")).to_have_text("skipped")
    console.get_by_text("Outputs").click()
    expect(console.locator("#run-live details")).to_contain_text('"approved_by": "erin"')


ANSWER = """async ([url, body]) => {
  const token = document.querySelector('meta[name=csrf-token]').content;
  const response = await fetch(url, {method: "POST", body: new URLSearchParams(body),
    headers: {"X-CSRF-Token": token, "HX-Request": "true"}});
  return [response.status, await response.text()];
}"""


def test_enter_in_the_reason_never_approves_and_a_decision_must_be_named(console, flows_api):
    console.goto(flows_api + "/ui/workflows/approval-demo")
    console.get_by_role("button", name="Run approval-demo").click()
    expect(console.get_by_test_id("run-status")).to_have_text("paused", timeout=60_000)
    approve = console.url.split("?")[0] + "/approve"
    status, text = console.evaluate(ANSWER, [approve, {"node": "gate", "decision": "maybe", "reason": "x"}])
    assert status == 422 and "decision: expected &#39;approve&#39; or &#39;reject&#39;, got &#39;maybe&#39;" in text
    status, text = console.evaluate(ANSWER, [approve, {"node": "gate", "reason": "x"}])  # none: approved before
    assert status == 422 and "got &#39;&#39;" in text
    # a person rejecting types the reason and presses Enter: the first submit button was Approve
    reason = console.get_by_label(re.compile("^Reason"))
    reason.fill("the text has a typo, do not publish")
    reason.press("Enter")
    console.get_by_role("button", name="Reject").click()  # still waiting: Enter answered nothing
    expect(console.get_by_test_id("run-status")).to_have_text("failed", timeout=60_000)
    expect(node_state(console, "publish")).not_to_have_text("completed")
    expect(console.locator("#run-live")).to_contain_text("the text has a typo, do not publish")


def test_the_gate_of_a_run_with_a_sub_workflow_is_answered_from_its_page(console, flows_api):
    console.goto(flows_api + "/ui/workflows/ui-sub-then-gate")
    console.get_by_role("button", name="Run ui-sub-then-gate").click()
    expect(console.get_by_test_id("run-status")).to_have_text("paused", timeout=60_000)
    expect(console.locator("#run-live")).to_contain_text("Keep the child's answer?")
    console.get_by_role("button", name="Approve").click()
    expect(console.get_by_test_id("run-status")).to_have_text("completed", timeout=60_000)
    expect(node_state(console, "done")).to_have_text("completed")
