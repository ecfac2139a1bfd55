"""A `?wait=false` run left "running" by an API that died reads as stopped, also once its pid
names another process. pid_max is 32768 on many hosts: a killed API's pid comes round within hours,
and a record judged by its pid alone then read "running" for as long as that stranger lived."""

from __future__ import annotations

import os
import subprocess
import sys

from flows.http.runs import STOPPED_BEFORE_START, RunTracker
from flows.outputs import RunStore
from lakehouse.common.processes import process_identity


def test_a_run_whose_holder_pid_now_names_another_process_reads_as_stopped(lakehouse):
    records = RunStore(lakehouse.store)
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        records.write_submission(
            {
                "run_id": "ab" * 16,
                "workflow": "hello-lakehouse",
                "status": "running",
                "flow_run_id": None,
                "submitted_at": "2026-12-06T02:00:00+00:00",
                "started_at": "2026-12-06T02:00:00+00:00",
                "finished_at": None,
                "error": None,
                "result": None,
                "pid": stranger.pid,  # the dead API's pid, now the stranger's
                "holder": process_identity(os.getpid()),  # which was another process
                "instance": "an API that was killed",
            }
        )
        view = RunTracker(records=records).recorded("ab" * 16)
    finally:
        stranger.kill()
        stranger.wait()
    assert view is not None
    assert (view["status"], view["error"]) == ("cancelled", STOPPED_BEFORE_START)
