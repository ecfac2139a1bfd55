"""`lakehouse api`: refuses a non-loopback bind without a token; serves on loopback (real process)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from flows.cli import app
from lakehouse.config import reset_settings

REPO = Path(__file__).resolve().parents[3]


def test_non_loopback_without_token_refuses_to_start(lh_home):
    result = CliRunner().invoke(app, ["api", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 1
    assert "refusing to listen on 0.0.0.0" in result.output and "LH_API_TOKEN" in result.output
    assert "Traceback" not in result.output


def test_bad_allowlist_refuses_to_start(lh_home, monkeypatch):
    monkeypatch.setenv("LH_API_ALLOW", '["10.0.0.0/8", "10.0.0.300"]')
    reset_settings()
    result = CliRunner().invoke(app, ["api", "--port", "0"])
    assert result.exit_code == 1
    assert "LH_API_ALLOW: '10.0.0.300' is not an IP address or CIDR" in result.output


def test_help_documents_the_options():
    result = CliRunner().invoke(app, ["api", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--log-level", "LH_API_TOKEN"):
        assert option in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serves_on_loopback_with_a_token(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LH_")}
    env.update(LH_HOME=str(tmp_path / "home"), LH_CONFIG=str(tmp_path / "none.toml"), LH_API_TOKEN="cli-token-123")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from flows.cli import main; main()",
            "api",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/v1/observer/stats"
        deadline = time.monotonic() + 120
        while True:
            try:
                denied = httpx.get(url, timeout=5)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "the API did not come up"
                time.sleep(0.2)
        assert denied.status_code == 401
        allowed = httpx.get(url, headers={"Authorization": "Bearer cli-token-123"}, timeout=5)
        assert allowed.status_code == 200 and "total" in allowed.json()
        assert (
            httpx.get(f"http://127.0.0.1:{port}/docs", headers={"Authorization": "Bearer cli-token-123"}).status_code
            == 200
        )
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert "cli-token-123" not in output


def test_allowlist_from_the_environment_may_be_comma_separated(lh_home, monkeypatch):
    from lakehouse.config import Settings

    monkeypatch.setenv("LH_API_ALLOW", " 10.0.0.0/8, 127.0.0.1 ")
    monkeypatch.setenv("LH_API_TRUSTED_PROXIES", '["192.0.2.1"]')
    settings = Settings()
    assert settings.api_allow == ["10.0.0.0/8", "127.0.0.1"]
    assert settings.api_trusted_proxies == ["192.0.2.1"]
