"""A file that changes under an ingest: cut short while it is read (a log rotation, a re-export) it
killed the process with SIGBUS, since it was mapped; and a folder on a checked path swapped for a
link between the check and the open led outside the allowed roots (6 of 200 racing HTTP requests
ingested a file outside them)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from lakehouse.data.ingest import IngestError, ingest_file

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

CUT_WHILE_HASHING = """
import os, sys
from pathlib import Path
from lakehouse.core import Lakehouse
from lakehouse.data.ingest import ingest_file

path = Path(sys.argv[1])
def cut(stage, fraction):
    if stage == "hashing" and path.stat().st_size > 1000:
        os.truncate(path, 1000)  # another process cuts the file while it is read
done = ingest_file(Lakehouse().tables, path, "cut", progress=cut)
print(done.status, done.rows_in)
"""


def test_a_file_cut_short_while_it_is_ingested_does_not_kill_the_process(tmp_path):
    path = tmp_path / "big.csv"
    with open(path, "w") as fh:  # more than one hashing step of 8 MB
        fh.write("id,name\n")
        fh.writelines(f"{i},name number {i}\n" for i in range(1_200_000))
    rows = 1_200_000
    env = {**os.environ, "LH_HOME": str(tmp_path / "home"), "LH_CONFIG": os.devnull, "PYTHONPATH": REPO}
    done = subprocess.run(
        [sys.executable, "-c", CUT_WHILE_HASHING, str(path)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])  # -7 was SIGBUS
    assert done.stdout.split() == ["created", str(rows)]  # the file as it was when read, whole


@pytest.mark.parametrize("link", ["folder", "file"])
def test_a_confined_path_that_became_a_link_is_not_read(lakehouse, tmp_path, link):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.csv").write_text("secret,v\nTOPSECRET,1\n")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    if link == "folder":  # inbox/r was a folder when the path was checked
        (inbox / "r").symlink_to(outside)
        path = inbox / "r" / "x.csv"
    else:
        (inbox / "x.csv").symlink_to(outside / "x.csv")
        path = inbox / "x.csv"
    expected = rf"^{re.escape(str(path))}: changed while it was opened: its path now leads elsewhere \(a link\)"
    with pytest.raises(IngestError, match=expected):
        ingest_file(lakehouse.tables, path, "leaked", confined=True)
    assert not lakehouse.tables.exists("leaked")
    # the user's own process (the CLI) follows links as it always did
    assert ingest_file(lakehouse.tables, path, "followed").rows_in == 1


def test_a_fifo_is_refused_without_waiting_for_a_writer(lakehouse, tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(IngestError, match=rf"^{re.escape(str(fifo))}: not a regular file$"):
        ingest_file(lakehouse.tables, fifo, "piped")
