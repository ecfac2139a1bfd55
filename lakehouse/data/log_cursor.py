"""Where the flushes of an append-only JSON-lines log got to (`<log>.flushed`, beside the log).

The cursor holds the log's identity (device, inode), the byte offset after the last flushed line
and a fingerprint of the bytes just before that offset. A log that no longer matches is read from
the start: replaced (a new inode), cut shorter than the offset, or cut in place and regrown past it
before the next flush (`truncate`, logrotate's `copytruncate`), which an offset alone took for the
same log and went on reading from the middle of the new lines: the rows before it never reached
the shared table. Reading from the start costs a re-read; the rows' ids make it add nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FINGERPRINT_BYTES = 64  # the bytes before the offset that must be the same: the end of a line or two


def _fingerprint(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@dataclass(frozen=True)
class Tail:
    """The complete lines after the cursor, each (offset, raw bytes), and the cursor after them."""

    lines: list[tuple[int, bytes]]
    ident: tuple[int, int] | None  # None: there is no log
    end: int
    fingerprint: str
    moved: bool = False  # whether it differs from the stored cursor (then the flush writes it)


class LogCursor:
    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.path = log_path.with_name(log_path.name + ".flushed")

    def read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}  # none yet, or unreadable: flush from the start (ids dedupe)

    def write(self, tail: Tail) -> None:
        if tail.ident is None:
            return
        state = {"ident": list(tail.ident), "offset": tail.end, "fingerprint": tail.fingerprint}
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.path)  # atomic: a crash leaves the old cursor or the new one

    def tail(self) -> Tail:
        try:
            fh = open(self.log_path, "rb")
        except FileNotFoundError:
            return Tail([], None, 0, "")
        with fh:
            st = os.fstat(fh.fileno())
            ident = (st.st_dev, st.st_ino)
            cursor = self.read()
            start = int(cursor.get("offset") or 0)
            if tuple(cursor.get("ident") or ()) != ident or start > st.st_size:
                start = 0
            base = start - min(start, FINGERPRINT_BYTES)
            fh.seek(base)
            data = fh.read()
            # a cursor written before fingerprints has none: its offset is taken as it is
            if start and "fingerprint" in cursor and _fingerprint(data[: start - base]) != cursor["fingerprint"]:
                start = base = 0  # cut in place and regrown: not the lines the cursor counted
                fh.seek(0)
                data = fh.read()
        end = start + data[start - base :].rfind(b"\n") + 1
        lines, pos = [], start
        for raw in data[start - base : end - base].split(b"\n")[:-1]:
            lines.append((pos, raw))
            pos += len(raw) + 1
        fingerprint = _fingerprint(data[end - min(end, FINGERPRINT_BYTES) - base : end - base])
        stored = (tuple(cursor.get("ident") or ()), cursor.get("offset"), cursor.get("fingerprint"))
        moved = stored != (ident, end, fingerprint)
        return Tail(lines, ident, end, fingerprint, moved)
