"""Append-only JSON-lines log with the torn-tail rules.

- One `write()` per record on an `O_APPEND` descriptor, so concurrent writers never interleave
  inside a line and a crash can only tear the last line.
- On open, a torn last line (no trailing newline) is truncated away and reported in `repairs`.
- A corrupt line elsewhere is reported in `corrupt` (line number and reason) and skipped when
  reading; it is never silently dropped from the report, and never rewritten.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

log = logging.getLogger(__name__)


@dataclass
class CorruptLine:
    line: int
    reason: str
    text: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class LogReport:
    repairs: list[str] = field(default_factory=list)
    corrupt: list[CorruptLine] = field(default_factory=list)


class AppendLog:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.report = LogReport()
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_tail()

    def _repair_tail(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, "rb+") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            if size == 0:
                return
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return
            # Walk back to the last newline; everything after it is the torn line.
            chunk = 64 * 1024
            pos = size
            keep = 0
            while pos > 0:
                start = max(0, pos - chunk)
                fh.seek(start)
                data = fh.read(pos - start)
                idx = data.rfind(b"\n")
                if idx >= 0:
                    keep = start + idx + 1
                    break
                pos = start
            fh.truncate(keep)
        message = f"{self.path}: truncated a torn last line ({size - keep} bytes) left by an interrupted write"
        self.report.repairs.append(message)
        log.warning(message)

    def append(self, record: dict[str, Any]) -> None:
        """Append one record as one line. Raises OSError on failure (callers decide if it is fatal)."""
        line = (json.dumps(record, default=str, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                written = os.write(fd, line)
                if written != len(line):
                    raise OSError(f"short write to {self.path}: {written} of {len(line)} bytes")
            finally:
                os.close(fd)

    def records(self) -> Iterator[dict[str, Any]]:
        """Every well-formed record in order. Corrupt lines are reported (once per open), not raised."""
        if not self.path.exists():
            return
        seen_corrupt = {c.line for c in self.report.corrupt}
        with open(self.path, "rb") as fh:
            for number, raw in enumerate(fh, start=1):
                if not raw.endswith(b"\n"):
                    # A writer is mid-append in another process: not ours to judge yet.
                    break
                text = raw.decode("utf-8", errors="replace").strip()
                if not text:
                    continue
                try:
                    record = json.loads(text)
                    if not isinstance(record, dict):
                        raise ValueError("not a JSON object")
                except ValueError as exc:
                    if number not in seen_corrupt:
                        bad = CorruptLine(number, str(exc).split(":")[0], text[:200])
                        self.report.corrupt.append(bad)
                        log.warning("%s: corrupt %s", self.path, bad)
                    continue
                yield record
