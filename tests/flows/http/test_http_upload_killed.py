"""An API killed while it ingests an upload leaves the upload's folder in LH_HOME/inbox (a request
removes its own when it ends). `lakehouse gc` removes such folders once older than its window, and
never the user's own files in the inbox. A real `lakehouse api` process, SIGKILLed mid-commit."""

from __future__ import annotations

import json
import os
import threading
import time

import httpx
import pytest

from lakehouse.config import reset_settings
from lakehouse.data.tables import PAUSE_BEFORE_COMMIT_ENV
from tests.fixtures.cli import invoke_cli
from tests.fixtures.http import api_process
from tests.fixtures.runs import wait_for

HOUR = 3600
CSV = b"id,name\n1,Ann\n2,Bob\n"


def _age(folder, seconds: float) -> None:
    then = time.time() - seconds
    for path in [*folder.rglob("*"), folder]:
        os.utime(path, (then, then))


def _post_until_killed(url: str) -> None:
    try:
        httpx.post(f"{url}/v1/ingest", data={"table": "people"}, files={"file": ("people.csv", CSV)}, timeout=60)
    except httpx.TransportError:
        pass  # the server was killed mid-request


def test_gc_removes_the_upload_folder_of_a_killed_api_and_keeps_the_users_files(tmp_path, monkeypatch):
    home = tmp_path / "home"
    inbox = home / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "people.csv").write_bytes(CSV)  # the user's own file, as old as any upload
    _age(inbox / "people.csv", 2 * HOUR)
    with api_process(tmp_path, env={PAUSE_BEFORE_COMMIT_ENV: "120"}) as (url, proc):
        upload = threading.Thread(target=_post_until_killed, args=(url,))
        upload.start()
        folders = wait_for(lambda: list(inbox.glob(".upload-*")), bool, timeout=60)
        time.sleep(1)  # into the pause before the commit
        proc.kill()
        upload.join(60)
    assert len(folders) == 1 and (folders[0] / "people.csv").read_bytes() == CSV

    monkeypatch.setenv("LH_HOME", str(home))
    reset_settings()
    young = json.loads(invoke_cli("gc", "--json").stdout)  # the default window, an hour
    assert young["upload_folders"] == 0 and folders[0].exists()
    _age(folders[0], 2 * HOUR)
    dry = json.loads(invoke_cli("gc", "--dry-run", "--json").stdout)
    assert dry["upload_folders"] == 1 and folders[0].exists()
    out = json.loads(invoke_cli("gc", "--json").stdout)
    assert out["upload_folders"] == 1 and out["removed"] == [
        {"path": folders[0].as_uri(), "bytes": len(CSV), "age_s": pytest.approx(2 * HOUR, abs=60)}
    ]
    assert "(1 upload folder(s) a killed API left in the inbox)" in out["summary"]
    assert not folders[0].exists() and (inbox / "people.csv").read_bytes() == CSV
    reset_settings()
