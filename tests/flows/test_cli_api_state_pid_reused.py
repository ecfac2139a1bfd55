"""A `lakehouse api` killed with SIGKILL (or by the OOM killer) leaves LH_HOME/api.json. Once its pid
came round to another process, the CLI sent `search`, `playbook record` and `rate` to whatever
listened on the old port: another home's API answered with that home's hits and stored the ratings
there. The recorded start time tells the API from a later process with its pid."""

from __future__ import annotations

import json
import os
import subprocess

from flows.cli.remote import running_api, state_path
from lakehouse.common.processes import process_identity


def test_a_pid_that_came_round_to_another_process_routes_nothing(lh_home):
    lh_home.mkdir(parents=True, exist_ok=True)
    home = lh_home.resolve()
    other = subprocess.Popen(["sleep", "60"])  # the process that got the dead API's pid
    try:
        info = {"url": "http://127.0.0.1:9", "pid": other.pid, "home": str(home), "version": "x"}
        state_path(home).write_text(json.dumps({**info, "started": process_identity(os.getpid())}))
        assert running_api(home) is None

        started = process_identity(other.pid)  # the writer itself
        state_path(home).write_text(json.dumps({**info, "started": started}))
        assert running_api(home) == {**info, "started": started}
    finally:
        other.kill()
        other.wait()
