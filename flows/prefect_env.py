"""Prefect's environment: state under LH_HOME, offline, quiet, patient at start-up.

Must run before `import prefect`: Prefect reads its settings from the environment at import.
Values the user already set win.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lakehouse.config import get_settings


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


def configure_prefect_environment() -> None:
    settings = get_settings()
    home = settings.home_dir
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
