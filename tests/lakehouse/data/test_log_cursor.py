"""LogCursor: whatever is done to a log between flushes (lines appended, the log cut in place,
replaced, or cut shorter), every line written reaches a flush at least once."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from lakehouse.data.log_cursor import LogCursor

steps = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 30)),
        st.tuples(st.sampled_from(["flush", "truncate", "replace", "cut shorter"]), st.just(0)),
    ),
    max_size=25,
)


def _flush(cursor: LogCursor, seen: set[str]) -> None:
    tail = cursor.tail()
    for _, raw in tail.lines:
        try:
            seen.add(json.loads(raw)["id"])
        except ValueError:
            pass  # a line torn by a cut: no record (the shared log reports it)
    cursor.write(tail)


@settings(max_examples=150, deadline=None)
@given(steps)
def test_every_line_written_reaches_a_flush(plan):
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "ops.jsonl"
        log.touch()
        cursor = LogCursor(log)
        written: set[str] = set()
        seen: set[str] = set()
        number = 0
        for action, count in plan:
            if action == "append":
                with open(log, "ab") as fh:
                    for _ in range(count):
                        number += 1
                        written.add(f"op-{number}")
                        fh.write(json.dumps({"id": f"op-{number}", "pad": "x" * (number % 7)}).encode() + b"\n")
                continue
            if action == "flush":
                _flush(cursor, seen)
                continue
            _flush(cursor, seen)  # what a rotation keeps was flushed first; only later lines are at stake
            if action == "truncate":
                with open(log, "r+b") as fh:
                    fh.truncate(0)
            elif action == "replace":
                log.rename(log.with_name("ops.jsonl.1"))
                log.touch()
            else:
                with open(log, "r+b") as fh:
                    fh.truncate(fh.seek(0, 2) // 2)
                    fh.seek(0, 2)
                    fh.write(b"\n")  # the torn line ends; it is no record
        _flush(cursor, seen)
        assert written <= seen


def test_a_cursor_from_before_fingerprints_keeps_its_offset(tmp_path):
    log = tmp_path / "ops.jsonl"
    log.write_bytes(b'{"id": "a"}\n{"id": "b"}\n')
    cursor = LogCursor(log)
    st_ = log.stat()
    cursor.path.write_text(json.dumps({"ident": [st_.st_dev, st_.st_ino], "offset": 12}))
    assert [raw for _, raw in cursor.tail().lines] == [b'{"id": "b"}']
