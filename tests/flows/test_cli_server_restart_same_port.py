"""`server stop`, then `server start` on the same port, while a browser still had the UI open: the
connections the stopped server closed kept the port "in use" for a minute (our probe bound without
SO_REUSEADDR, unlike uvicorn), and the start was refused as if another server held it. A port a
live server listens on is still refused."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from tests.fixtures.cli import LAKEHOUSE, own_home_env
from tests.fixtures.http import free_port

pytestmark = pytest.mark.prefect


def test_a_stopped_server_port_with_a_client_still_connected_starts_again(tmp_path):
    env = own_home_env(tmp_path / "home")
    port = free_port()

    def lakehouse(*args: str, home: str | None = None) -> subprocess.CompletedProcess:
        run_env = env | ({"LH_HOME": home} if home else {})
        return subprocess.run([LAKEHOUSE, *args], env=run_env, capture_output=True, text=True, timeout=300)

    try:
        assert lakehouse("server", "start", "--port", str(port)).returncode == 0
        with httpx.Client() as browser:  # keeps its connection open, as a browser tab does
            assert browser.get(f"http://127.0.0.1:{port}/api/health").status_code == 200
            assert lakehouse("server", "stop").stdout.strip() == "stopped"
            again = lakehouse("server", "start", "--port", str(port))
        assert again.returncode == 0, again.stderr
        assert f"http://127.0.0.1:{port}" in again.stdout

        other_home = lakehouse("server", "start", "--port", str(port), home=str(tmp_path / "other"))
        assert other_home.returncode == 1
        assert f"port {port} on 127.0.0.1 is in use" in " ".join(other_home.stderr.split())
    finally:
        lakehouse("server", "stop")
