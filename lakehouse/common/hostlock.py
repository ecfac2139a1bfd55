"""Named locks that hold across the threads and the processes of one host, and across machines
when given a lock they share.

Two handles on one LH_HOME (the CLI beside `lakehouse serve`, the API, a worker) each have their own
in-process locks; what they write must still take turns. `HostLocks.hold(name)` is reentrant for
the thread that holds it (an operation may call another on the same name) and takes an exclusive
`flock` on `<folder>/<name>.lock` once, at the outermost level, then the `shared` lock of that name
if there is one (machines with their own LH_HOME: `lakehouse.data.catalog_lock`). Always in that
order, so two holders never wait for each other. The kernel releases the flock when the process
dies, so a SIGKILLed writer never leaves it held. A shared lock can be lost while held (its server
restarts): `check(name)`, called before a write is made visible, says so."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from lakehouse.common.errors import FolderUnusable
from lakehouse.common.paths import make_folder

log = logging.getLogger(__name__)


class HostLocks:
    def __init__(self, folder: Path, shared: Callable[[str], AbstractContextManager[Any]] | None = None) -> None:
        self.folder = folder
        self.shared = shared
        self._leases: dict[str, Any] = {}  # name -> what the shared lock yielded, while held
        self._depth: dict[str, int] = {}  # read and written only by the thread holding the name's RLock
        self._guard = threading.Lock()
        self._threads: dict[str, threading.RLock] = {}

    def thread_lock(self, name: str) -> threading.RLock:
        """The name's lock among this process's threads alone (what `hold` takes first)."""
        with self._guard:
            return self._threads.setdefault(name, threading.RLock())

    def check(self, name: str) -> None:
        """Before a held write is made visible: raises if the shared lock of `name` was lost (its
        `check()`); the flock cannot be lost while this process lives."""
        lease = self._leases.get(name)
        if lease is not None:
            lease.check()

    def _open(self, name: str) -> int:
        """The lock file of `name`, made if need be. A read-only home cannot hold one: said by name
        (a corpus build there ended with a bare "OSError: [Errno 30] Read-only file system")."""
        make_folder(self.folder, f"the lock of {name}")
        path = self.folder / f"{name}.lock"
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise FolderUnusable(
                f"the lock of {name}: cannot open {str(path)!r} to write ({exc.strerror or exc}): nothing was "
                "written; a home on a read-only file system serves reads only"
            ) from None

    @contextmanager
    def hold(self, name: str) -> Iterator[None]:
        with self.thread_lock(name):
            depth = self._depth.get(name, 0)
            self._depth[name] = depth + 1
            try:
                if depth:
                    yield
                    return
                fd = self._open(name)
                try:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        log.warning("waiting for %s: another process on this host is writing it", name)
                        fcntl.flock(fd, fcntl.LOCK_EX)
                    with self.shared(name) if self.shared else nullcontext() as lease:
                        self._leases[name] = lease
                        try:
                            yield
                        finally:
                            self._leases.pop(name, None)
                finally:
                    os.close(fd)  # releases the flock
            finally:
                if depth:
                    self._depth[name] = depth
                else:
                    del self._depth[name]
