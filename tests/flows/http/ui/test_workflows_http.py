"""Console page Workflows over plain HTTP (in-process app): the CSRF guard, what the loader reports
shown inline with node and field, and the DAG's boxes and arrows."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from lakehouse.config import Settings

BROKEN = """\
name: ui-broken
nodes:
  - id: a
    mode: fixture.echo
    with: {value: 1}
  - id: b
    mode: fixture.echo
    depends_on: [aa]
    with: {valeu: 2}
"""

FANOUT = """\
name: ui-kinds
inputs:
  items: {type: array, required: true}
  n: {type: integer, default: 3}
  loud: {type: boolean, default: true}
nodes:
  - id: each
    mode: fixture.echo
    for_each: $inputs.items
    with: {value: $item}
  - id: gate
    depends_on: [each]
    approval: {message: "ok?"}
"""


@pytest.fixture
def client(lh_home):
    import flows  # noqa: F401  (Prefect environment first)
    from flows.http import create_app

    (lh_home / "workflows").mkdir(parents=True)
    (lh_home / "workflows" / "ui-broken.yaml").write_text(BROKEN)
    (lh_home / "workflows" / "ui-kinds.yaml").write_text(FANOUT)
    with TestClient(create_app(Settings()), base_url="http://127.0.0.1") as c:
        yield c


def csrf(client: TestClient) -> str:
    page = client.get("/ui/workflows")
    match = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert match is not None
    return match.group(1)


def test_a_run_without_the_csrf_token_is_refused(client):
    response = client.post("/ui/workflows/hello-lakehouse/run", data={"text": "x"})
    assert response.status_code == 403
    assert "CSRF" in response.text


def test_an_invalid_workflow_shows_each_issue_with_node_and_field(client):
    listing = client.get("/ui/workflows")
    assert re.search(r"ui-broken</a></td>\s*<td></td>\s*<td[^>]*><span class=\"badge failed\">2 problems", listing.text)
    page = client.get("/ui/workflows/ui-broken")
    assert page.status_code == 200
    assert (
        "node <code>b</code> field <code>depends_on</code>: unknown node &#39;aa&#39;; did you mean &#39;a&#39;?"
        in (page.text)
    )
    assert "field <code>with.valeu</code>" in page.text
    assert "<svg" not in page.text  # nothing to plan


def test_an_unknown_input_and_a_bad_value_are_shown_inline(client):
    token = csrf(client)
    response = client.post(
        "/ui/workflows/hello-lakehouse/run", data={"csrf_token": token, "txet": "hi"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert 'class="error"' in response.text
    assert "field <code>inputs.txet</code>: unknown input" in response.text
    assert "did you mean &#39;text&#39;?" in response.text
    assert "HX-Redirect" not in response.headers


def test_a_flag_or_a_number_the_form_cannot_hold_is_shown_inline(client):
    """A crafted post: `loud=maybe` ran with false, `n=nan` with NaN (recorded as null)."""
    token = csrf(client)
    for field, value, message in (
        ("loud", "maybe", "field <code>inputs.loud</code>: expected boolean, got &#39;maybe&#39;"),
        ("n", "nan", "field <code>inputs.n</code>: expected integer, got &#39;nan&#39;"),
    ):
        data = {"csrf_token": token, "items": "[1]", field: value}
        response = client.post("/ui/workflows/ui-kinds/run", data=data, headers={"HX-Request": "true"})
        assert response.status_code == 200 and message in response.text, response.text
        assert "HX-Redirect" not in response.headers


def test_a_list_that_is_not_json_says_so_and_where(client):
    token = csrf(client)
    for value, message in (
        ("[1, 2", "field <code>inputs.items</code>: not valid JSON: Expecting &#39;,&#39; delimiter at character 6"),
        ("[" * 5000 + "]" * 5000, "field <code>inputs.items</code>: not valid JSON: nested too deeply"),
    ):
        response = client.post(
            "/ui/workflows/ui-kinds/run", data={"csrf_token": token, "items": value}, headers={"HX-Request": "true"}
        )
        assert response.status_code == 200 and message in response.text, response.text[-1500:]
        assert "HX-Redirect" not in response.headers
    missing = client.post("/ui/workflows/ui-kinds/run", data={"csrf_token": token}, headers={"HX-Request": "1"})
    assert "missing required input &#39;items&#39;: give it a value (CLI: --input items=VALUE)" in missing.text


def test_an_unknown_workflow_or_run_is_a_404_page(client):
    page = client.get("/ui/workflows/hello-lakehous")
    assert page.status_code == 404
    assert "did you mean &#39;hello-lakehouse&#39;?" in page.text
    run = client.get("/ui/workflows/runs/0123")
    assert run.status_code == 404
    assert "no run &#39;0123&#39;" in run.text


def test_the_plan_draws_kinds_and_the_form_follows_the_inputs(client):
    # a required array input: the file is still checked and planned, with a placeholder
    page = client.get("/ui/workflows/ui-kinds")
    assert page.text.count('<g class="node') == 2
    assert "fixture.echo · fan-out" in page.text
    assert '<g class="node approval ' in page.text
    assert 'marker-end="url(#arrow)"' in page.text
    assert '<textarea name="items"' in page.text
    assert '<input name="n" value="3"' in page.text and 'step="1"' in page.text
    assert 'type="checkbox" name="loud" value="true" checked' in page.text
    missing = client.post("/ui/workflows/ui-kinds/run", data={"csrf_token": csrf(client)}, headers={"HX-Request": "1"})
    assert "missing required input &#39;items&#39;" in missing.text
