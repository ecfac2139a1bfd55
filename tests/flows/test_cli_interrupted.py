"""Ctrl-C says which command stopped and where to see what it did. typer turned it into a silent
exit 130: an interrupted ingest printed nothing at all, though its op was recorded as failed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def test_ctrl_c_names_the_command_it_stopped(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LH_")} | {"LH_HOME": str(tmp_path / "home")}
    cli = str(Path(sys.executable).with_name("lakehouse"))
    out = tmp_path / "workers.parquet"
    process = subprocess.Popen(
        [cli, "examples", "workers", "--rows", "20000000", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a shell's background job ignores it
    )
    # writing (its temporary file is there): 20 M rows take minutes. A fixed sleep sent the signal
    # during start-up on a loaded machine, where an import may swallow it.
    deadline = time.monotonic() + 240
    while not list(tmp_path.glob(".workers.parquet.*.tmp")):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the command did not start writing"
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=240)
    assert process.returncode == 130, stderr
    assert stderr.strip().endswith(
        "interrupted: `lakehouse examples workers` stopped before it finished (Ctrl-C); a mode call it was running "
        "is recorded as failed: `lakehouse ops list`"
    ), stderr
    assert "Traceback" not in stderr and not out.exists() and stdout == ""
