"""Which process a recorded pid named. Pids come round (pid_max is 32768 on many Linux hosts, a
few hours of a busy machine), so a record that names a live pid may name someone else's process:
a record also keeps the process's identity (boot and start time), and a live pid whose identity
differs is another process."""

from __future__ import annotations

import os
from pathlib import Path

_PROC = Path("/proc")


def process_identity(pid: int) -> str | None:
    """`BOOT_ID:START_TICKS` of a live process, or None where /proc does not say (macOS, gone)."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
        boot = (_PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: the fields after its last ")"
    # start at field 3, so the start time (field 22) is the 20th of them
    after_name = stat[stat.rindex(")") + 2 :].split()
    return f"{boot}:{after_name[19]}" if len(after_name) > 19 else None


def process_alive(pid: object, identity: object = None) -> bool:
    """Is `pid` a live process, and the one `identity` (from `process_identity`) was taken of? A
    record without an identity, or a system that cannot tell, is judged by the pid alone."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: alive
    if not isinstance(identity, str):
        return True
    now = process_identity(pid)
    return now is None or now == identity
