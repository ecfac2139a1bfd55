"""After an upgrade, a `lakehouse api` of the old version left running answered the new CLI's
`search` and `playbook` commands with the old code, which could not read a corpus the new version
had written ("unreadable corpus manifest"). A CLI runs such a call in its own process and says why."""

from __future__ import annotations

import json
import os

from flows.cli.remote import state_path
from flows.version import installed_version
from lakehouse.common.processes import process_identity
from tests.fixtures.cli import invoke_cli


def test_an_api_of_another_version_is_not_used(lakehouse, minilm, lh_home):
    home = lh_home.resolve()
    api = os.getppid()  # a live process standing for the old API; nothing listens on its port
    info = {"url": "http://127.0.0.1:9", "pid": api, "started": process_identity(api), "home": str(home)}
    state_path(home).write_text(json.dumps({**info, "version": "0.0.1"}))

    found = invoke_cli("playbook", "lookup", "forklift driver", "--json")
    said = " ".join(found.stderr.split())
    assert f"note: the running `lakehouse api` (pid {api}, version 0.0.1) is not this CLI's version" in said
    assert f"({installed_version()}): running in this process; restart the API to serve this one" in said
    assert json.loads(found.stdout)["matches"] == []
