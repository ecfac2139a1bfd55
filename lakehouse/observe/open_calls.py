"""Calls whose op is not written yet, so a server that stops mid-call still leaves their audit row.

A call's op is written when the call ends. A server (the HTTP API, MCP over HTTP) gives its calls in
flight a grace period when it stops, then the process exits within seconds whatever still runs: a
call cut there would end with no op at all. `interrupt_open_calls` writes each such call's op as
failed; the call, should it still end before the process does, then writes nothing (one op a call).

One registry per process: workflow nodes and direct calls may record through different
`Observer` objects of the same process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lakehouse.observe.observer import ObservedOp, Observer

_open: set[OpenCall] = set()
_lock = threading.Lock()


class OpenCall:
    """One call in flight: `close` records its op once it ends, unless it was interrupted first."""

    def __init__(self, observer: Observer, failed: Callable[[str], ObservedOp]) -> None:
        self.observer = observer
        self.failed = failed  # the call's op, failed with the given reason
        with _lock:
            _open.add(self)

    def close(self, op: ObservedOp) -> None:
        with _lock:
            if self not in _open:  # interrupted: its op is written already
                return
            _open.discard(self)
        self.observer.record(op)


def interrupt_open_calls(reason: str) -> int:
    """Record every call still open as failed with `reason`; how many there were."""
    with _lock:
        cut = list(_open)
        _open.clear()
    for call in cut:
        call.observer.record(call.failed(reason))
    return len(cut)
