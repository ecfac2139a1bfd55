"""`lakehouse server start|stop|status`: a local Prefect server (UI + API) on loopback.

While it runs, CLI workflow runs use it (see flows/prefect_env.py) instead of starting Prefect's
temporary server each time, and every run shows up in its UI. `ensure_server()` starts one in the
background for `workflow run`, `workflow resume` and `main` when none is in use (setting
`prefect_autostart`, LH_PREFECT_AUTOSTART).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import NoReturn

import typer

from flows.cli.common import LakehouseGroup, can_listen, console, err_console, fail, print_json
from flows.errors import ServerStartFailed
from flows.prefect_env import QUIET_CONSOLE, applied_defaults, running_server_url, server_file, server_process_alive

server_app = typer.Typer(
    cls=LakehouseGroup, help="A local Prefect server for the UI, state under LH_HOME.", no_args_is_help=True
)

DEFAULT_PORT = 4200
LOG_NAME = "prefect-server.log"  # under LH_HOME
LOG_ROTATE_BYTES = 16 * 1024 * 1024
START_TIMEOUT_S = 120.0  # a cold start takes ~10 s on an idle 2-core machine, several times that when loaded


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


LAUNCHER = "flows.prefect_server"  # the module our servers run: Prefect's CLI with its scheduler mended


def outdated_server_warning(home: Path) -> str | None:
    """A line to show when the home's running server was started by a lakehouse before the
    scheduler mend (its command line runs `prefect` itself): such a server never makes scheduled
    runs, and it runs on until stopped, across upgrades. None when it is ours, or cannot be told."""
    info = _info(home) or {}
    try:
        pid = int(info["pid"])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (KeyError, TypeError, ValueError, OSError):
        return None
    if not cmdline or LAUNCHER.encode() in cmdline or not server_process_alive(pid):
        return None
    return (
        f"warning: the home's Prefect server (pid {pid}) was started by an older lakehouse, whose server "
        "makes no scheduled runs: restart it (`lakehouse server stop`, then `lakehouse server start`)"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def _start_lock(home: Path) -> Iterator[None]:
    """One starter per LH_HOME: two runs auto-starting at once would start two servers on one database."""
    import fcntl

    home.mkdir(parents=True, exist_ok=True)
    with open(home / "prefect-server.lock", "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _kill(pid: int) -> None:
    """SIGTERM the server's process group, SIGKILL it after 10 s."""
    try:
        os.killpg(pid, signal.SIGTERM)
        for _ in range(100):
            if not server_process_alive(pid):
                return
            time.sleep(0.1)
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_healthy(
    home: Path, pid: int, api_url: str, log_path: str, timeout: float, alive: Callable[[], bool] | None = None
) -> None:
    """Wait for `api_url` to answer, then mark the server file as running; ServerStartFailed if the
    process dies or the time runs out (the process is then stopped and the file removed). `alive`
    tells whether our own child still runs (a dead child is a zombie until reaped: kill(pid, 0) works)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not (alive() if alive else server_process_alive(pid)):
            server_file(home).unlink(missing_ok=True)
            raise ServerStartFailed(f"the server exited during start-up; see {log_path}", exited=True)
        if _healthy(api_url):
            server_file(home).write_text(json.dumps({"pid": pid, "api_url": api_url, "log": log_path}))
            return
        time.sleep(0.25)
    _kill(pid)
    server_file(home).unlink(missing_ok=True)
    raise ServerStartFailed(f"the server did not answer within {timeout:.0f}s; see {log_path}")


def _launch(home: Path, port: int, timeout: float) -> str:
    """Start Prefect's `prefect server start` on 127.0.0.1:`port` in its own session (it outlives this
    process) and wait until it answers; its API URL. Call under `_start_lock`."""
    log_path = home / LOG_NAME
    _rotate(log_path)
    # The server must not talk to itself or to the user's server: no PREFECT_API_URL.
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    if QUIET_CONSOLE in applied_defaults:  # our CLI's default, not the user's: the server's log shows errors
        env.pop(QUIET_CONSOLE, None)
    env = _retention() | _ui_reaches(port) | env  # the user's own Prefect settings win
    # Prefect's CLI with a mend its scheduler needs on SQLAlchemy 2.1 (flows/prefect_server.py)
    command = [sys.executable, "-m", LAUNCHER, "server", "start"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL, start_new_session=True
        )
    api_url = f"http://127.0.0.1:{port}/api"
    # Recorded before it answers so `lakehouse server stop` can end a start that hangs; "starting"
    # keeps other runs from pointing Prefect at it until it answers (flows/prefect_env.py).
    info = {"pid": process.pid, "api_url": api_url, "log": str(log_path), "starting": True}
    server_file(home).write_text(json.dumps(info))
    _wait_healthy(home, process.pid, api_url, str(log_path), timeout, alive=lambda: process.poll() is None)
    return api_url


def _rotate(log_path: Path) -> None:
    """Every start appends to the server's log: past LOG_ROTATE_BYTES it becomes `<log>.1` (the one
    before that goes), so years of nightly starts do not fill the home."""
    with suppress(OSError):
        if log_path.stat().st_size > LOG_ROTATE_BYTES:
            log_path.replace(log_path.with_name(log_path.name + ".1"))


def _retention() -> dict[str, str]:
    """Prefect deletes old flow runs only when told to: after history_kept_days, like our history."""
    from lakehouse.config import get_settings

    days = get_settings().history_kept_days
    return {
        "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED": "events,flow_runs",
        "PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD": str(int(days * 86400)),
    }


def _ui_reaches(port: int) -> dict[str, str]:
    """The UI's API address. Prefect derives it from its port setting (4200), not from `--port`:
    on any other port the UI said "Can't connect to Server API at http://127.0.0.1:4200/api", or
    showed the runs of whatever server has 4200 (another home's). A UI address the user set wins."""
    if {"PREFECT_UI_API_URL", "PREFECT_SERVER_UI_API_URL"} & set(os.environ):
        return {}
    return {"PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api"}


def _adopt_or_clear(home: Path, timeout: float) -> str | None:
    """A server file left by a starter that died mid-start: wait for that server if it is still
    alive, else forget it. Its API URL once it answers, None if there is none."""
    info = _info(home)
    if not info:
        return None
    try:
        pid, api_url, log_path = int(info["pid"]), str(info["api_url"]), str(info.get("log", ""))
    except (KeyError, TypeError, ValueError):
        server_file(home).unlink(missing_ok=True)
        return None
    if not server_process_alive(pid):
        server_file(home).unlink(missing_ok=True)
        return None
    try:
        _wait_healthy(home, pid, api_url, log_path, timeout)
    except ServerStartFailed:
        return None
    return api_url


def ensure_server(timeout: float = START_TIMEOUT_S) -> str | None:
    """Point this process's Prefect at a local server, starting one in the background if none is in use.

    For the commands that run workflows (`workflow run`, `workflow resume`, `main`): call it BEFORE
    anything imports prefect (Prefect reads PREFECT_API_URL once, when it is imported). Returns the
    API URL Prefect will use, or None for Prefect's temporary (ephemeral) server: when the setting
    `prefect_autostart` is off, when prefect was already imported, or when the start failed (one
    warning line on stderr; the run goes on). A server it starts is announced once on stderr and
    keeps running for later runs until `lakehouse server stop`.
    """
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]  # the user's server, or ours (set when `flows` was imported)
    from lakehouse.config import get_settings

    settings = get_settings()
    home = settings.home_dir
    if url := running_server_url(home):
        os.environ["PREFECT_API_URL"] = url
        return url
    if not settings.prefect_autostart or "prefect" in sys.modules:
        return None
    started = False
    try:
        with _start_lock(home):
            url = running_server_url(home) or _adopt_or_clear(home, timeout)  # another run may have started it
            if url is None:
                port = DEFAULT_PORT if can_listen("127.0.0.1", DEFAULT_PORT) else _free_port()
                try:
                    url = _launch(home, port, timeout)
                except ServerStartFailed as exc:
                    if port != DEFAULT_PORT or not exc.exited:
                        raise
                    url = _launch(home, _free_port(), timeout)  # 4200 was taken between the probe and the bind
                started = True
    except (ServerStartFailed, OSError) as exc:
        err_console.print(
            f"warning: could not start a local Prefect server ({exc}); this run uses Prefect's temporary server",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return None
    os.environ["PREFECT_API_URL"] = url
    if started:
        err_console.print(
            f"started a local Prefect server for this and later runs: UI {url.removesuffix('/api')}  "
            "(stop it: `lakehouse server stop`; to run without it: LH_PREFECT_AUTOSTART=false)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    return url


@server_app.command("start")
def start(
    port: int = typer.Option(DEFAULT_PORT, min=1, max=65535, help="Port on 127.0.0.1."),
    timeout: float = typer.Option(180, min=1, help="Seconds to wait for the server to answer."),
    json_out: bool = typer.Option(False, "--json", help="Print the outcome as JSON (default: off, a line)."),
) -> None:
    """Start the server in the background and wait until it answers."""
    home = _home()

    def said(api_url: str, started: bool) -> None:
        ui_url, log = api_url.removesuffix("/api"), (_info(home) or {}).get("log") or str(home / LOG_NAME)
        if json_out:
            print_json({"started": started, "ui_url": ui_url, "api_url": api_url, "log": log})
        elif started:
            console.print(f"Prefect UI: {ui_url}  (API {api_url}; log {log})")
        else:
            console.print(f"already running: {ui_url}")
        if not started and (outdated := outdated_server_warning(home)):
            err_console.print(outdated, markup=False, highlight=False, soft_wrap=True)
        if not started and not ui_url.endswith(f":{port}"):  # running, but not where it was asked to
            err_console.print(
                f"note: it runs on {ui_url}, not on port {port}: `lakehouse server stop`, then start it again "
                "to move it",
                highlight=False,
            )

    if url := running_server_url(home):
        return said(url, started=False)
    try:
        with _start_lock(home), err_console.status("starting the Prefect server…"):
            if url := running_server_url(home) or _adopt_or_clear(home, timeout):
                return said(url, started=False)
            if not can_listen("127.0.0.1", port):  # another server answering there would pass for ours
                fail(
                    f"port {port} on 127.0.0.1 is in use (another LH_HOME's Prefect server, or another program): "
                    "start this one with --port N"
                )
            try:
                api_url = _launch(home, port, timeout)
            except ServerStartFailed as exc:
                fail(f"{exc} (`lakehouse server stop` to end it)")
    except KeyboardInterrupt:
        _interrupted_start(home)
    said(api_url, started=True)


def _starting(home: Path) -> dict | None:
    """The server file of a live server still starting (its starter waits for it, or was stopped
    before it answered: the server runs on in its own session)."""
    info = _info(home)
    try:
        alive = bool(info and info.get("starting") and server_process_alive(int(info["pid"])))
    except (KeyError, TypeError, ValueError):
        return None
    return info if alive else None


def _interrupted_start(home: Path) -> NoReturn:
    """Ctrl-C while waiting for a server to answer: the server is not stopped with the command (it
    was exit 130 with nothing said, and `server status` then called the running server "not running")."""
    info = _starting(home)
    if info is None:
        fail("interrupted: no Prefect server was left running", code=130)
    fail(
        f"interrupted: the Prefect server (pid {info['pid']}, UI {str(info['api_url']).removesuffix('/api')}) "
        "goes on starting in the background: `lakehouse server status` shows it, `lakehouse server stop` ends it",
        code=130,
    )


@server_app.command("stop")
def stop(
    json_out: bool = typer.Option(False, "--json", help="Print the outcome as JSON (default: off, a line)."),
) -> None:
    """Stop the server started by `lakehouse server start` (or by a workflow run)."""
    home = _home()
    info = _info(home)
    try:
        pid = int(info["pid"]) if info else 0
    except (KeyError, TypeError, ValueError):
        pid = 0
    stopped = bool(pid and server_process_alive(pid))
    if stopped:
        _kill(pid)
    server_file(home).unlink(missing_ok=True)
    print_json({"stopped": stopped}) if json_out else console.print("stopped" if stopped else "not running")


@server_app.command("status")
def status(json_out: bool = typer.Option(False, "--json", help="Print the status as JSON.")) -> None:
    """Is the server running and answering? Exit 0 if it is, 1 if not."""
    home = _home()
    url = running_server_url(home)
    starting = None if url else _starting(home)
    healthy = bool(url and _healthy(url))
    shown = url or (str(starting["api_url"]) if starting else None)
    outdated = outdated_server_warning(home) if url else None
    data = {
        "running": bool(url),
        "starting": starting is not None,
        "healthy": healthy,
        "api_url": shown,
        "ui_url": shown.removesuffix("/api") if shown else None,
        "makes_scheduled_runs": None if not url else outdated is None,
    }
    if outdated:
        err_console.print(outdated, markup=False, highlight=False, soft_wrap=True)
    if json_out:
        print_json(data)
    elif starting:
        console.print(
            f"starting at {data['ui_url']} (pid {starting['pid']}), not in use until it answers: "
            "`lakehouse server start` waits for it, `lakehouse server stop` ends it",
            highlight=False,
            soft_wrap=True,
        )
    else:
        console.print(f"running at {data['ui_url']} (healthy: {healthy})" if url else "not running")
    raise typer.Exit(0 if healthy else 1)


def register(app: typer.Typer) -> None:
    app.add_typer(server_app, name="server")
