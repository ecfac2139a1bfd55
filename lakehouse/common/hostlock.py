"""Named locks that hold across the threads and the processes of one host.

Two handles on one LH_HOME (the CLI beside `lakehouse serve`, the API, a worker) each have their own
in-process locks; what they write must still take turns. `HostLocks.hold(name)` is reentrant for
the thread that holds it (an operation may call another on the same name) and takes an exclusive
`flock` on `<folder>/<name>.lock` once, at the outermost level. The kernel releases the lock when
the process dies, so a SIGKILLed writer never leaves it held."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class HostLocks:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._depth: dict[tuple[str, int], int] = {}
        self._guard = threading.Lock()
        self._threads: dict[str, threading.RLock] = {}

    def thread_lock(self, name: str) -> threading.RLock:
        """The name's lock among this process's threads alone (what `hold` takes first)."""
        with self._guard:
            return self._threads.setdefault(name, threading.RLock())

    @contextmanager
    def hold(self, name: str) -> Iterator[None]:
        with self.thread_lock(name):
            key = (name, threading.get_ident())
            depth = self._depth.get(key, 0)
            self._depth[key] = depth + 1
            try:
                if depth:
                    yield
                    return
                self.folder.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.folder / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    yield
                finally:
                    os.close(fd)  # releases the flock
            finally:
                if depth:
                    self._depth[key] = depth
                else:
                    del self._depth[key]
