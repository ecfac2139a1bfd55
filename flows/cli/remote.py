"""One-shot CLI calls through a running `lakehouse api`, which has its embedding model loaded.

`lakehouse api` writes LH_HOME/api.json (url, pid, its start time, home, version) while it serves and
removes it on exit. `search`, `playbook record` and `playbook lookup` post their mode input to
`/v1/modes/<name>` of that API when the file names the live process that wrote it, serving this
LH_HOME with this CLI's version, and the setting `cli_use_api` is on (LH_CLI_USE_API=false turns it
off). The API records the op with source `http`. No API, one that cannot be reached, or one of
another version: the command runs in-process.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flows.cli.common import err_console, fail
from flows.errors import StateFileUnwritable
from flows.version import installed_version

API_HINT = " (a running `lakehouse api` makes this instant)"

STATE_FILE = "api.json"
_ANY_HOST = {"0.0.0.0", "::", ""}


def state_path(home: Path) -> Path:
    return home / STATE_FILE


def client_url(host: str, port: int) -> str:
    """Where a local client reaches a server bound to `host`: a wildcard bind answers on loopback."""
    if host in _ANY_HOST:
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def write_state(home: Path, host: str, port: int) -> dict[str, Any] | None:
    """This process's state in `home`; returns the state of a live API it took the file from."""
    from lakehouse.common.processes import process_identity

    before = running_api(home)
    path = state_path(home)
    info = {
        "url": client_url(host, port),
        "host": host,
        "port": port,
        "pid": os.getpid(),
        "started": process_identity(os.getpid()),
        "home": str(home),
        "version": installed_version(),
    }
    tmp = path.with_name(f".{STATE_FILE}.{os.getpid()}")
    try:
        tmp.write_text(json.dumps(info))
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StateFileUnwritable(
            f"cannot write {path} ({exc.strerror or exc}): the CLI finds the running API through it; "
            f"free space under {home} (or make it writable) and start again"
        ) from None
    return before


def remove_state(home: Path, before: dict[str, Any] | None = None) -> None:
    """Remove the state file if it is still ours (another `lakehouse api` may have taken over), or
    give it back to the live API whose file `write_state` replaced (a second API of the same home
    that stops, or could not start, took the first one's file with it: CLI calls stopped reaching it)."""
    from lakehouse.common.processes import process_alive

    path = state_path(home)
    try:
        if json.loads(path.read_text()).get("pid") != os.getpid():
            return
        # the one before may have gone meanwhile, and its pid come round to another process
        if before is not None and process_alive(before.get("pid"), before.get("started")):
            tmp = path.with_name(f".{STATE_FILE}.{os.getpid()}")
            tmp.write_text(json.dumps(before))
            tmp.replace(path)
        else:
            path.unlink()
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        pass


def running_api(home: Path) -> dict[str, Any] | None:
    """The state of a live `lakehouse api` serving `home`, or None."""
    try:
        info = json.loads(state_path(home).read_text())
        pid = int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    from lakehouse.common.processes import process_alive

    # A SIGKILLed (or OOM-killed) API leaves its file, and a later process may get its pid: it is not
    # that API, whatever listens on the old port. A file without a start time is taken on its pid.
    alive = process_alive(pid, info.get("started"))
    if not alive or pid == os.getpid() or Path(str(info.get("home"))) != home or not isinstance(info.get("url"), str):
        return None
    return info


def call(name: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    """The mode's output from the running API, or None when there is none to use (run in-process).

    An answer from the API that is an error is reported like an in-process failure: `error:` and its
    message, exit 1 for a 4xx, 2 for a 5xx."""
    from lakehouse.config import get_settings

    settings = get_settings()
    if not settings.cli_use_api:
        return None
    info = running_api(settings.home_dir)
    if info is None:
        return None
    if info.get("version") != (ours := installed_version()):  # its code may not read what this version wrote
        err_console.print(
            f"note: the running `lakehouse api` (pid {info['pid']}, version {info.get('version', 'unknown')}) is not "
            f"this CLI's version ({ours}): running in this process; restart the API to serve this one",
            markup=False,
            highlight=False,
        )
        return None
    import httpx

    try:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return None  # text that is not Unicode (a file's "\udc80"): the in-process run names its field
    headers = {"Content-Type": "application/json"}
    if settings.api_token:
        headers["Authorization"] = f"Bearer {settings.api_token}"
    try:
        response = httpx.post(f"{info['url']}/v1/modes/{name}", content=body, headers=headers, timeout=600)
    except httpx.TransportError:
        return None  # gone since it wrote the file: run in-process
    if response.status_code >= 400:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {response.status_code} from {info['url']}"
        if response.status_code == 401:  # the user sent no request knowingly: say which and the fix
            message = (
                f"the running `lakehouse api` at {info['url']} (which this command goes through) refused it: "
                f"{message}; set LH_API_TOKEN to its token, or LH_CLI_USE_API=false to run in this process"
            )
        fail(message, 1 if response.status_code < 500 else 2)
    return response.json()


@contextmanager
def loading_model_note(hint: str = API_HINT) -> Iterator[None]:
    """The one-shot path: say why the next seconds are quiet when the embedding model loads (a
    call refused before it does says only why)."""
    from lakehouse.search.embed import load_notice

    said = False

    def note(name: str) -> None:
        nonlocal said
        if not said:
            said = True
            err_console.print(f"loading the embedding model…{hint}", markup=False, highlight=False)

    with load_notice(note):
        yield
