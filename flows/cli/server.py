"""`lakehouse server start|stop|status`: a local Prefect server (UI + API) on loopback.

While it runs, CLI workflow runs use it (see flows/prefect_env.py) instead of starting Prefect's
temporary server each time, and every run shows up in its UI.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import typer

from flows.cli.common import console, fail, print_json
from flows.prefect_env import running_server_url, server_file

server_app = typer.Typer(help="A local Prefect server for the UI, state under LH_HOME.", no_args_is_help=True)


def _healthy(api_url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{api_url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _home() -> Path:
    from lakehouse.config import get_settings

    return get_settings().home_dir


def _info(home: Path) -> dict | None:
    try:
        return json.loads(server_file(home).read_text())
    except (OSError, ValueError):
        return None


@server_app.command("start")
def start(
    port: int = typer.Option(4200, help="Port on 127.0.0.1."),
    timeout: float = typer.Option(180, help="Seconds to wait for the server to answer."),
) -> None:
    """Start the server in the background and wait until it answers."""
    home = _home()
    if url := running_server_url(home):
        console.print(f"already running: {url.removesuffix('/api')}")
        return
    log_path = home / "prefect-server.log"
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    prefect = Path(sys.executable).with_name("prefect")
    command = [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL, start_new_session=True
        )
    api_url = f"http://127.0.0.1:{port}/api"
    server_file(home).write_text(json.dumps({"pid": process.pid, "api_url": api_url, "log": str(log_path)}))
    deadline = time.monotonic() + timeout
    with console.status("starting the Prefect server…"):
        while time.monotonic() < deadline:
            if process.poll() is not None:
                server_file(home).unlink(missing_ok=True)
                fail(f"the server exited with code {process.returncode}; see {log_path}")
            if _healthy(api_url):
                console.print(f"Prefect UI: http://127.0.0.1:{port}  (API {api_url}; log {log_path})")
                return
            time.sleep(0.5)
    fail(f"the server did not answer within {timeout:.0f}s; see {log_path} (`lakehouse server stop` to end it)")


@server_app.command("stop")
def stop() -> None:
    """Stop the server started by `lakehouse server start`."""
    home = _home()
    info = _info(home)
    if not info:
        console.print("not running")
        return
    try:
        os.killpg(int(info["pid"]), signal.SIGTERM)
        for _ in range(100):
            os.kill(int(info["pid"]), 0)
            time.sleep(0.1)
        os.killpg(int(info["pid"]), signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    server_file(home).unlink(missing_ok=True)
    console.print("stopped")


@server_app.command("status")
def status(json_out: bool = typer.Option(False, "--json", help="Print the status as JSON.")) -> None:
    """Is the server running and answering? Exit 0 if it is, 1 if not."""
    home = _home()
    url = running_server_url(home)
    healthy = bool(url and _healthy(url))
    data = {
        "running": bool(url),
        "healthy": healthy,
        "api_url": url,
        "ui_url": url.removesuffix("/api") if url else None,
    }
    if json_out:
        print_json(data)
    else:
        console.print(f"running at {data['ui_url']} (healthy: {healthy})" if url else "not running")
    raise typer.Exit(0 if healthy else 1)


def register(app: typer.Typer) -> None:
    app.add_typer(server_app, name="server")
