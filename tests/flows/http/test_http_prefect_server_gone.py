"""A workflow run on a Prefect server that stopped answering is a 503 naming it. `lakehouse api`
keeps the Prefect address it found at start: after `lakehouse server stop` every run was a bare
`500 internal_error (ConnectError)` until the API was restarted."""

from __future__ import annotations

from prefect.settings import PREFECT_API_URL, temporary_settings

from tests.fixtures.http import assert_error, free_port, make_settings, serve


def test_a_run_on_a_silent_prefect_server_is_a_503_naming_it(tmp_path):
    gone = f"http://127.0.0.1:{free_port()}/api"
    with temporary_settings({PREFECT_API_URL: gone}), serve(make_settings(tmp_path)) as live, live.client() as client:
        response = client.post("/v1/observer/workflow/run", json={"workflow": "hello-lakehouse"})
    assert_error(
        response,
        503,
        "prefect_unavailable",
        match=rf"the Prefect server at {gone} does not answer \(ConnectError\): start it \(`lakehouse server start`\)",
    )
