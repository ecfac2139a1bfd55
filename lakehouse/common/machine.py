"""When the machine, not the input, stopped the work: a full disk, a spent quota, a read-only file
system, too little memory. Said in words with the way out (the CLI's errors, a crashed run, the ops
log's one warning, a storage write that failed)."""

from __future__ import annotations

import errno

# The file-system refusals a person can act on, each with what to do; anything else shows its own words.
WRITE_REFUSALS = {
    errno.ENOSPC: ("no space left on device", "free space there, then try again"),
    errno.EDQUOT: ("disk quota exceeded", "free space there or raise the quota, then try again"),
    errno.EROFS: (
        "read-only file system",
        "it is mounted read-only: remount it read-write, or use a home that can be written",
    ),
}


def machine_problem(exc: BaseException) -> str | None:
    """The machine, not the input, stopped the command (a full disk, a read-only home, too little
    memory), said in words with the way out; None for any other error."""
    if isinstance(exc, MemoryError):
        return (
            "out of memory: the command needs more memory than this process may use (ulimit -v, a container's "
            "limit, or the machine's): raise the limit or give it less work"
        )
    if isinstance(exc, OSError) and exc.errno in WRITE_REFUSALS:
        why, fix = WRITE_REFUSALS[exc.errno]
        return f"{why} writing {exc.filename}: {fix}" if exc.filename else f"{why} ({exc.strerror or exc}): {fix}"
    return None
