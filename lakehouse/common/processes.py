"""Which process a recorded pid named. Pids come round (pid_max is 32768 on many Linux hosts, a
few hours of a busy machine), so a record that names a live pid may name someone else's process:
a record also keeps the process's identity (its start time), and a live pid whose identity differs
is another process."""

from __future__ import annotations

import psutil


def process_identity(pid: int) -> str | None:
    """The start time of a live process as psutil gives it (seconds since the epoch, the same on
    every read), or None when it is gone."""
    try:
        return repr(psutil.Process(pid).create_time())
    except (psutil.Error, OverflowError, ValueError):
        return None


def process_alive(pid: object, identity: object = None) -> bool:
    """Is `pid` a live process, and the one `identity` (from `process_identity`) was taken of? A
    record without an identity is judged by the pid alone."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    now = process_identity(pid)
    if now is None:
        return False
    return not isinstance(identity, str) or now == identity
