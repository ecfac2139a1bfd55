"""When the machine, not the input, stopped the work: a full disk, a read-only file system, too
little memory. Said in words with the way out (the CLI's errors, a crashed run, the ops log's one warning)."""

from __future__ import annotations

import errno

_MACHINE_ERRNOS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is spent",
    errno.EROFS: "the file system is read-only",
}


def machine_problem(exc: BaseException) -> str | None:
    """The machine, not the input, stopped the command (a full disk, a read-only home, too little
    memory), said in words with the way out; None for any other error."""
    if isinstance(exc, MemoryError):
        return (
            "out of memory: the command needs more memory than this process may use (ulimit -v, a container's "
            "limit, or the machine's): raise the limit or give it less work"
        )
    if isinstance(exc, OSError) and exc.errno in _MACHINE_ERRNOS:
        where = f" writing {exc.filename}" if exc.filename else ""
        return (
            f"{_MACHINE_ERRNOS[exc.errno]} ({exc.strerror or exc}{where}): free space or make it writable, then retry"
        )
    return None
