"""Whether a workflow run is still running: the process running it holds an flock on
`<LH_HOME>/locks/runs/<run_id>.lock` while it does. The kernel releases it when the process dies,
so a SIGKILLed run reads as ended (its Prefect flow run stays "Running" for ever, and cannot say).
One host: runs on other machines sharing the store are not seen."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


def _path(home: Path, run_id: str) -> Path:
    return home / "locks" / "runs" / f"{run_id}.lock"


@contextlib.contextmanager
def running(home: Path, run_id: str) -> Iterator[None]:
    """Hold the run's lock while the run executes; its file goes when the run ends."""
    path = _path(home, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a run id is new: nobody else holds it
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        os.close(fd)


def is_running(home: Path, run_id: str) -> bool:
    """Whether a process on this host is running the run now."""
    try:
        fd = os.open(_path(home, run_id), os.O_RDWR)
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def ended_here(home: Path, run_id: str) -> bool:
    """Whether the run's process on this host ended without finishing it (killed): its lock file is
    left and nobody holds it. False when this host never ran it (another machine may be running it)."""
    return _path(home, run_id).exists() and not is_running(home, run_id)
