"""`HostLocks`: reentrant for its thread, exclusive against other processes (a waiter says why it
waits), and freed by the kernel when a holder is SIGKILLed (no stale lock file to clean up by hand)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

from lakehouse.common.hostlock import HostLocks
from tests.fixtures.locks import warnings_heard

PROBE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("free")
except BlockingIOError:
    print("held")
"""

HOLDER = """
import sys
from pathlib import Path
from lakehouse.common.hostlock import HostLocks
with HostLocks(Path(sys.argv[1])).hold("corpus-x"):
    print("holding", flush=True)
    sys.stdin.read()  # until killed
"""


def _probe(path) -> str:
    return subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, check=True).stdout


def test_another_process_finds_it_held_until_the_outermost_hold_ends(tmp_path):
    locks = HostLocks(tmp_path / "locks")
    with locks.hold("corpus-x"):
        with locks.hold("corpus-x"):  # the same thread again: passes straight through
            assert _probe(tmp_path / "locks" / "corpus-x.lock").strip() == "held"
        assert _probe(tmp_path / "locks" / "corpus-x.lock").strip() == "held"
    assert _probe(tmp_path / "locks" / "corpus-x.lock").strip() == "free"


def test_another_thread_waits_for_it(tmp_path):
    locks = HostLocks(tmp_path / "locks")
    order: list[str] = []

    def wait_then_note() -> None:
        with locks.hold("corpus-x"):
            order.append("waiter")

    with locks.hold("corpus-x"):
        waiter = threading.Thread(target=wait_then_note)
        waiter.start()
        waiter.join(0.5)  # not a timing assertion: the waiter cannot have got in while we hold it
        order.append("holder")
    waiter.join()
    assert order == ["holder", "waiter"]


def test_a_waiter_says_why_and_a_sigkilled_holder_leaves_it_free(tmp_path):
    folder = tmp_path / "locks"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    assert _probe(folder / "corpus-x.lock").strip() == "held"
    got_in = threading.Event()

    def wait_then_note() -> None:
        with HostLocks(folder).hold("corpus-x"):
            got_in.set()

    waiter = threading.Thread(target=wait_then_note)
    try:
        with warnings_heard("lakehouse.common.hostlock") as (warned, said):
            waiter.start()
            assert warned.wait(60), "the waiter never said it was waiting"
        assert said == ["waiting for corpus-x: another process on this host is writing it"]
        assert not got_in.is_set()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    waiter.join()  # the kernel freed the dead holder's lock
    assert got_in.is_set()
    assert _probe(folder / "corpus-x.lock").strip() == "free"
