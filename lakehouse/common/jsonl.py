"""Append-only JSON-lines log with the torn-tail rules.

- One `write()` per record on an `O_APPEND` descriptor, so concurrent writers never interleave
  inside a line and a crash can only tear the last line.
- A last line without its newline is never cut off: no process can tell a writer killed mid-write
  from another process's append in progress (a reader may see part of it), and cutting at a length
  read a moment earlier removed whole records appended meanwhile. Readers leave such a line alone;
  an append that finds one starts its record on a new line, so a torn fragment becomes a corrupt
  line (a write in progress, which O_APPEND orders before ours, leaves only an empty line). Such a
  line is reported instead (`unfinished_tail`; `ops stats` says it in words).
- A corrupt line is reported in `corrupt` (line number and reason) and skipped when reading; it
  is never silently dropped from the report, and never rewritten.
- A long-running reader keeps a `LogCursor` and calls `read_since(cursor)`: one `stat` when nothing
  changed, otherwise only the bytes appended since (by any process) are read, a block at a time
  (`scan_since` hands each record on as it is read, so a long log is never held whole). A file that
  was replaced (another inode) or shrank below what was read is read again from the start (`reset`).
- `exclusive()` holds an advisory lock (`flock`) on the log across processes, for writers that
  must check the log and append as one step (idempotent imports).
- A `trimmable` log (the op log) can drop old records (`trim`): its appends hold a shared `flock`
  while they write and the trim an exclusive one while it swaps in the shorter file, so no append
  lands in the file being replaced; an append that waited for the swap reopens the new file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from lakehouse.common.errors import JsonNestedTooDeep, LogWriteError
from lakehouse.common.paths import make_folder
from lakehouse.common.text import loads_json

log = logging.getLogger(__name__)


@dataclass
class Trim:
    """What `AppendLog.trim` kept and dropped (complete, well-formed records dropped only)."""

    kept: int = 0
    dropped: int = 0
    bytes_before: int = 0
    bytes_after: int = 0


def _record_or_none(raw: bytes) -> dict[str, Any] | None:
    """The record of a complete line; None for a corrupt or unfinished one (which a trim keeps)."""
    if not raw.endswith(b"\n"):
        return None
    try:
        record = loads_json(raw.decode("utf-8", errors="replace").strip() or "null")
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


@dataclass
class CorruptLine:
    line: int
    reason: str
    text: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(frozen=True)
class LogCursor:
    """How far a reader got: the file it read (device, inode), the end of the last complete line
    it consumed, the file size it saw, and how many lines it consumed (to number corrupt lines)."""

    ident: tuple[int, int] | None = None
    offset: int = 0
    size: int = 0
    lines: int = 0


@dataclass
class LogReport:
    repairs: list[str] = field(default_factory=list)
    corrupt: list[CorruptLine] = field(default_factory=list)


def _reason(exc: ValueError) -> str:
    """Why a line is no record, with where in the line ("Unterminated string starting at" alone was
    cut mid-sentence): json's message and column, not its "line 1" of a one-line document."""
    if isinstance(exc, json.JSONDecodeError) and not isinstance(exc, JsonNestedTooDeep):
        return f"{exc.msg}: column {exc.colno}"
    return str(exc).split(":")[0]


TAIL_BLOCK = 1 << 16  # bytes read at a time from the end of a log
READ_BLOCK = 1 << 20  # bytes read at a time going forward (`scan_since`)


def _lines_backward(fh: BinaryIO, end: int) -> Iterator[bytes]:
    """The lines of `fh[:end]`, last first: first what follows the last newline, then each line
    before it (without its newline), in blocks of TAIL_BLOCK bytes."""
    pos, head = end, b""
    while pos > 0:
        step = min(TAIL_BLOCK, pos)
        pos -= step
        fh.seek(pos)
        parts = (fh.read(step) + head).split(b"\n")
        head = parts[0]  # may have begun in an earlier block: kept until its newline is read
        yield from reversed(parts[1:])
    if end:
        yield head


class AppendLog:
    def __init__(self, path: Path | str, *, trimmable: bool = False) -> None:
        self.path = Path(path)
        self.trimmable = trimmable
        self.report = LogReport()
        self._lock = threading.RLock()
        self.bytes_read = 0  # by read_since: how much a long-running reader re-reads
        self._tail_warned: set[int] = set()  # where tail found corrupt lines, said once each
        make_folder(self.path.parent, f"the log {self.path.name}")

    def append(self, record: dict[str, Any]) -> None:
        """Append one record as one line. Raises OSError on failure (callers decide if it is fatal)."""
        line = (json.dumps(record, default=str, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        with self._lock:
            if self.trimmable:
                fd = self._open_locked(os.O_RDWR | os.O_APPEND, fcntl.LOCK_SH)
            else:
                fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = b"\n" + line  # after a torn fragment (or a write in progress): a line of our own
                written = os.write(fd, line)  # raises with nothing written, or writes a part when the disk fills
                while written < len(line):
                    try:
                        more = os.write(fd, line[written:])  # the rest, or the reason it cannot be written
                    except OSError as exc:
                        self._take_back(fd, size, written)
                        raise LogWriteError(
                            f"could not append to {self.path}: {exc.strerror or exc} after {written} of "
                            f"{len(line)} bytes; the part written was taken back"
                        ) from exc
                    if more == 0:
                        self._take_back(fd, size, written)
                        raise LogWriteError(f"short write to {self.path}: {written} of {len(line)} bytes")
                    written += more
            finally:
                os.close(fd)

    def _take_back(self, fd: int, size: int, written: int) -> None:
        """A line cut by a full disk would stay a corrupt line in the middle of the log for good once
        the next append lands after it: cut the file back to where the line began, unless another
        writer has appended since (then the fragment stays, reported as a corrupt line)."""
        if os.fstat(fd).st_size == size + written:
            os.ftruncate(fd, size)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the log's advisory lock (threads of this process and other processes that ask for
        it): check-then-append inside stays one step. Plain `append` does not wait for it."""
        with self._lock:
            fd = self._open_locked(os.O_RDONLY, fcntl.LOCK_EX)
            try:
                yield
            finally:
                os.close(fd)  # releases the lock

    def _open_locked(self, flags: int, lock: int) -> int:
        """A descriptor of the log holding `flock(lock)`. A lock taken on a file that a trim replaced
        meanwhile guards nothing (and a write to it is lost): the new file is opened instead."""
        while True:
            fd = os.open(self.path, flags | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, lock)
                held = os.fstat(fd)
                now = os.stat(self.path)
            except FileNotFoundError:
                os.close(fd)
                continue
            except BaseException:
                os.close(fd)
                raise
            if (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino):
                return fd
            os.close(fd)

    def trim(self, keep: Callable[[dict[str, Any]], bool], *, dry_run: bool = False) -> Trim:
        """Drop the records `keep` refuses: the kept lines (corrupt ones and an unfinished last line
        too, byte for byte) go to a new file that replaces the log in one rename, while no append
        writes (a `trimmable` log's appends wait for it). Readers see the old file or the new one."""
        if not self.trimmable:
            raise LogWriteError(f"{self.path} is not a trimmable log: its appends do not wait for a trim")
        result = Trim()
        if not self.path.exists():
            return result
        with self._lock:
            fd = self._open_locked(os.O_RDONLY, fcntl.LOCK_EX)
            for left in self.path.parent.glob(f".{self.path.name}.trim-*"):  # a trim killed mid-way
                left.unlink(missing_ok=True)  # (none runs now: this one holds the lock)
            temp = self.path.with_name(f".{self.path.name}.trim-{os.getpid()}")
            try:
                with os.fdopen(os.dup(fd), "rb") as old, open(temp, "wb") as new:
                    for raw in old:
                        result.bytes_before += len(raw)
                        record = _record_or_none(raw)
                        if record is not None and not keep(record):
                            result.dropped += 1
                            continue
                        result.kept += 1
                        result.bytes_after += len(raw)
                        new.write(raw)
                    new.flush()
                    os.fsync(new.fileno())
                if dry_run or not result.dropped:
                    temp.unlink()
                else:
                    os.chmod(temp, os.fstat(fd).st_mode & 0o777)
                    os.replace(temp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    temp.unlink()
                raise
            finally:
                os.close(fd)
        return result

    def _parse(self, number: int, raw: bytes, seen_corrupt: set[int]) -> dict[str, Any] | None:
        text = raw.decode("utf-8", errors="replace").strip()
        if not text:
            return None
        try:
            record = loads_json(text)  # a line nested past the recursion limit is corrupt too
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            if number not in seen_corrupt:
                bad = CorruptLine(number, _reason(exc), text[:200])
                self.report.corrupt.append(bad)
                seen_corrupt.add(number)
                log.warning("%s: corrupt %s", self.path, bad)
            return None
        return record

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
                record = self._parse(number, raw, seen_corrupt)
                if record is not None:
                    yield record

    def tail(self, n: int, keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """The last `n` well-formed records that `keep` accepts, oldest first, read from the end of
        the file: what it costs depends on how far back they are, not on the log's length. A corrupt
        line on the way is skipped with a warning naming where it starts (it has no line number
        here: `records` and `read_since` number it)."""
        if n <= 0 or not self.path.exists():
            return []
        found: list[dict[str, Any]] = []
        with open(self.path, "rb") as fh:
            start = fh.seek(0, os.SEEK_END)
            lines = _lines_backward(fh, start)
            start -= len(next(lines, b""))  # what follows the last newline: nothing, or a line still being written
            for raw in lines:
                start -= len(raw) + 1
                try:
                    record = loads_json(raw.decode("utf-8", errors="replace").strip() or "null")
                except ValueError as exc:
                    if start not in self._tail_warned:  # once: the console reads the tail at each poll
                        self._tail_warned.add(start)
                        log.warning("%s: corrupt line at byte %d: %s (skipped)", self.path, start, _reason(exc))
                    continue
                if isinstance(record, dict) and keep(record):
                    found.append(record)
                    if len(found) == n:
                        break
        return found[::-1]

    def unfinished_tail(self) -> int:
        """How many bytes follow the log's last newline (0: it ends with a complete line): a writer
        cut off mid-record, or one writing now. Read from the end; the file is not changed."""
        try:
            with open(self.path, "rb") as fh:
                return len(next(_lines_backward(fh, fh.seek(0, os.SEEK_END)), b""))
        except OSError:  # missing or unreadable: no tail to judge (what reads the records says why)
            return 0

    def changed(self, cursor: LogCursor | None) -> bool:
        """One `stat`: has the file changed since `cursor` (grown, shrunk, replaced, created)?"""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return cursor is not None and cursor.ident is not None
        return cursor is None or cursor.ident != (st.st_dev, st.st_ino) or cursor.size != st.st_size

    def read_since(self, cursor: LogCursor | None) -> tuple[list[dict[str, Any]], LogCursor, bool]:
        """`(records, cursor, reset)`: the complete records appended since `cursor` and where the next
        read starts. `reset` says the file was replaced, removed or cut below `cursor` (or there was
        no cursor): the records are then the whole log, and whatever was built from it is stale.
        An unfinished last line (a writer mid-append) is left for a later call."""
        records: list[dict[str, Any]] = []
        cursor, reset = self.scan_since(cursor, records.append)
        return records, cursor, reset

    def scan_since(self, cursor: LogCursor | None, each: Callable[[dict[str, Any]], None]) -> tuple[LogCursor, bool]:
        """`read_since` one record at a time: `each` is given every complete record appended since
        `cursor`, in order, read READ_BLOCK bytes at a time (read whole, a 200 MB log took `ops stats`
        to 1.4 GB). Returns `(cursor, reset)`; on a reset `each` was given the whole log."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return LogCursor(), cursor is None or cursor.ident is not None
        ident = (st.st_dev, st.st_ino)
        reset = cursor is None or (cursor.ident is not None and cursor.ident != ident) or st.st_size < cursor.offset
        if cursor is not None and not reset and cursor.ident == ident and cursor.size == st.st_size:
            return cursor, False
        start = LogCursor(ident) if reset or cursor is None else cursor
        with open(self.path, "rb") as fh:
            if (os.fstat(fh.fileno()).st_dev, os.fstat(fh.fileno()).st_ino) != ident:
                return self.scan_since(None, each)[0], True  # replaced between stat and open: read it whole
            fh.seek(start.offset)
            seen_corrupt = {c.line for c in self.report.corrupt}
            offset, number, pending = start.offset, start.lines, b""
            while block := fh.read(READ_BLOCK):
                self.bytes_read += len(block)
                *lines, pending = (pending + block).split(b"\n")  # the last piece has no newline yet
                for raw in lines:
                    number += 1
                    offset += len(raw) + 1
                    record = self._parse(number, raw, seen_corrupt)
                    if record is not None:
                        each(record)
        return LogCursor(ident, offset, offset + len(pending), number), reset
