"""A 500 answers "internal error ID; the server log has the details": the log must have them also
after the API's first workflow run. That run imports Prefect, whose logging config gives the root
logger a console handler at CRITICAL, and every traceback after it was dropped; uvicorn's own
warnings and errors were dropped the same way."""

from __future__ import annotations

import socket

import httpx

from tests.fixtures.http import api_process, free_port


def test_a_500_after_a_workflow_run_is_in_the_server_log(tmp_path):
    (tmp_path / "home" / "ops.jsonl").mkdir(parents=True)  # every read of the op log fails: a 500
    env = {"LH_PREFECT_AUTOSTART": "false", "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api"}
    with api_process(tmp_path, env) as (url, process):
        run = httpx.post(f"{url}/v1/observer/workflow/run", json={"workflow": "hello-lakehouse"}, timeout=120)
        assert run.status_code >= 500, run.text  # Prefect is imported now, whatever the run's fate
        failed = httpx.get(f"{url}/v1/observer/stats", timeout=60)
        assert failed.status_code == 500, failed.text
        error_id = failed.json()["error"]["details"]["error_id"]
        with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1]))) as raw:
            raw.sendall(b"\x16\x03\x01 not HTTP\r\n\r\n")  # uvicorn warns of it (a TLS hello sent to http://)
            raw.recv(100)
    assert f"error {error_id} on GET /v1/observer/stats" in process.output
    assert "IsADirectoryError" in process.output
    assert "uvicorn.error - Invalid HTTP request received." in process.output
