"""`lakehouse api`: refuses a non-loopback bind without a token; serves on loopback (real process)."""

from __future__ import annotations

from pathlib import Path

import httpx
from typer.testing import CliRunner

from flows.cli import app
from lakehouse.config import reset_settings
from tests.fixtures.http import api_process

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


def test_serves_on_loopback_with_a_token(tmp_path):
    with api_process(tmp_path, {"LH_API_TOKEN": "cli-token-123"}, timeout_s=120) as (base, proc):
        url = f"{base}/v1/observer/stats"
        assert httpx.get(url, timeout=5).status_code == 401
        allowed = httpx.get(url, headers={"Authorization": "Bearer cli-token-123"}, timeout=5)
        assert allowed.status_code == 200 and "total" in allowed.json()
        assert httpx.get(f"{base}/docs", headers={"Authorization": "Bearer cli-token-123"}).status_code == 200
    assert "cli-token-123" not in proc.output


def test_allowlist_from_the_environment_may_be_comma_separated(lh_home, monkeypatch):
    from lakehouse.config import Settings

    monkeypatch.setenv("LH_API_ALLOW", " 10.0.0.0/8, 127.0.0.1 ")
    monkeypatch.setenv("LH_API_TRUSTED_PROXIES", '["192.0.2.1"]')
    settings = Settings()
    assert settings.api_allow == ["10.0.0.0/8", "127.0.0.1"]
    assert settings.api_trusted_proxies == ["192.0.2.1"]
