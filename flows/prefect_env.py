"""Prefect's environment: state under LH_HOME, offline, quiet, patient at start-up.

Must run before `import prefect`: Prefect reads its settings from the environment at import.
Values the user already set win. Runs when `flows` is imported (also by `lakehouse --help`), so it
stays cheap: environment variables and at most one small TOML read, no pydantic-settings, no Prefect.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def server_file(home: Path) -> Path:
    return home / "prefect-server.json"


def running_server_url(home: Path) -> str | None:
    """The API URL of a server started by `lakehouse server start`, if its process is alive."""
    path = server_file(home)
    try:
        info = json.loads(path.read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
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


def configure_prefect_environment() -> None:
    home = home_dir()
    defaults = {
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
        # Our CLI reports node errors itself; Prefect still ships every log line to its API (UI).
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    if "PREFECT_API_URL" not in os.environ:
        url = running_server_url(home)
        if url:
            os.environ["PREFECT_API_URL"] = url
