"""Prefect's environment: state under LH_HOME, offline, quiet, patient at start-up.

Must run before `import prefect`: Prefect reads its settings from the environment at import.
Values the user already set win. Runs when `flows` is imported (also by `lakehouse --help`), so it
stays cheap: environment variables and at most one small TOML read, no pydantic-settings, no Prefect.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path


def server_file(home: Path) -> Path:
    return home / "prefect-server.json"


def server_process_alive(pid: int) -> bool:
    """Is `pid` a live Prefect server process of this LH_HOME? A recorded pid outlives a reboot or a
    container restart and may then name another process, which must be neither used nor killed; a
    zombie (exited, not yet reaped) has an empty command line. A home copied (or restored) from
    another names the other's server, which runs on the other's Prefect home: its runs went into the
    other's database, and `server stop` ended it. Without /proc (macOS): the pid is alive."""
    try:
        os.kill(pid, 0)
    except (OSError, OverflowError):
        return False
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    try:
        cmdline = (proc / str(pid) / "cmdline").read_bytes()
        environ = (proc / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return False
    ours = f"PREFECT_HOME={os.environ.get('PREFECT_HOME', '')}".encode()
    return b"prefect" in cmdline and b"server" in cmdline and ours in environ


def running_server_url(home: Path) -> str | None:
    """The API URL of a server started by `lakehouse server start` (or auto-started by a run), if
    its process is alive and it has answered once (one still starting is not in use yet)."""
    path = server_file(home)
    try:
        info = json.loads(path.read_text())
        alive = server_process_alive(int(info["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not alive or info.get("starting"):
        return None
    return info.get("api_url")


def home_dir() -> Path:
    """`Settings().home_dir` without building Settings: LH_HOME, else `home` in the TOML file, else .lakehouse.

    Same precedence as lakehouse.config (environment > lakehouse.toml or LH_CONFIG > default).
    """
    for key, value in os.environ.items():
        if key.upper() == "LH_HOME" and value:
            return Path(value).expanduser().resolve()
    home = ".lakehouse"
    config = Path(os.environ.get("LH_CONFIG", "lakehouse.toml"))
    try:
        import tomllib

        home = str(tomllib.loads(config.read_text(encoding="utf-8")).get("home", home))
    except (OSError, ValueError):
        pass
    return Path(home).expanduser().resolve()


def prefect_defaults(home: Path) -> dict[str, str]:
    """The Prefect environment our processes run with unless the user set a value (benches give a
    bare Prefect script the same)."""
    return {
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
        # Our CLI reports node errors itself; Prefect still ships its warnings and errors (the level
        # above) to its API, where the UI shows them with the run.
        QUIET_CONSOLE: "CRITICAL",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }


def _only_help(args: list[str]) -> bool:
    """`lakehouse --help`, `lakehouse GROUP COMMAND --help`, bare `lakehouse`: help, nothing runs."""
    return not args or "--help" in args


def configure_prefect_environment() -> None:
    home = home_dir()
    for key, value in prefect_defaults(home).items():
        if key not in os.environ:
            os.environ[key] = value
            applied_defaults.add(key)
    if not _only_help(sys.argv[1:]):  # asking for help leaves no state directory behind
        # Prefect makes its home at import, but not the LH_HOME above it (a first command's). One
        # that cannot be made (LH_HOME a file, a folder we may not write) is left for the command's
        # own use of LH_HOME to refuse by name: raised here, at import, it was a traceback.
        with contextlib.suppress(OSError):
            Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    if "PREFECT_API_URL" not in os.environ:
        url = running_server_url(home)
        if url:
            os.environ["PREFECT_API_URL"] = url
            applied_defaults.add("PREFECT_API_URL")


# What the function above set, not the user: a Prefect server process must not take the home's
# server URL for its own address, nor keep the CLI's quiet console (its console is its log file).
applied_defaults: set[str] = set()
QUIET_CONSOLE = "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"
