"""One-shot `search` / `playbook` calls go through a running `lakehouse api` (its model is loaded):
found through LH_HOME/api.json, recorded by the API with source `http`, same hits as in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from flows.cli.remote import running_api, state_path
from lakehouse.config import Settings, reset_settings
from lakehouse.core import Lakehouse
from lakehouse.observe.observer import Observer
from tests.fixtures.cli import invoke_cli
from tests.fixtures.vectors import jobs_table

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def served(tmp_path_factory, minilm):
    """One real `lakehouse api` subprocess on 127.0.0.1 (a free port) serving one LH_HOME for the
    module (each start costs about 5 CPU s): tests that share it tell their ops and entries apart
    by their own queries."""
    home = tmp_path_factory.mktemp("routing") / "lh"
    lakehouse = Lakehouse(Settings(home=home))
    lakehouse.tables.write_arrow("jobs", jobs_table(), mode="overwrite")
    lakehouse.corpora.build("jobs", "jobs", ["title", "description"], "job_id")
    try:
        for info in _serve(home, {}):
            yield info, lakehouse
    finally:
        lakehouse.close()


@pytest.fixture
def api(served, monkeypatch):
    """The module's API and its home, which this test's CLI calls use."""
    info, lakehouse = served
    monkeypatch.setenv("LH_HOME", str(lakehouse.settings.home_dir))
    reset_settings()
    yield info, lakehouse
    reset_settings()


@pytest.fixture
def api_with_token(lakehouse, minilm, lh_home):
    lakehouse.tables.write_arrow("jobs", jobs_table(), mode="overwrite")
    lakehouse.corpora.build("jobs", "jobs", ["title", "description"], "job_id")
    yield from _serve(lh_home, {"LH_API_TOKEN": "sekrit-token-123"})


def _serve(lh_home, extra):
    env = {**os.environ, "LH_HOME": str(lh_home), **extra}
    headers = {"Authorization": f"Bearer {extra['LH_API_TOKEN']}"} if "LH_API_TOKEN" in extra else {}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from flows.cli import main; main()", "api", "--port", "0", "--log-level", "warning"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    while True:
        info = running_api(lh_home.resolve())
        if info is not None:
            try:
                if httpx.get(f"{info['url']}/v1/observer/stats", headers=headers, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "the API did not come up"
        time.sleep(0.2)
    yield info
    proc.terminate()
    proc.communicate(timeout=60)


def _search(query: str, *extra: str):
    return invoke_cli("search", query, "--corpus", "jobs", "--json", *extra)


def _ops_of(lakehouse, query: str) -> list[dict]:
    """This test's ops in the shared home: those whose input names its own query."""
    return [op for op in Observer(lakehouse.settings.ops_log).ops() if query in json.dumps(op.get("input"))]


def test_search_goes_through_the_running_api_with_the_same_hits(api, monkeypatch):
    _, lakehouse = api
    routed = _search("forklift driver at night")
    assert "loading the embedding model" not in routed.stderr
    ops = _ops_of(lakehouse, "forklift driver at night")
    assert [(op["mode"], op["source"]) for op in ops] == [("matrix.search", "http")]

    monkeypatch.setenv("LH_CLI_USE_API", "false")
    reset_settings()
    local = _search("forklift driver at night")
    assert json.loads(routed.stdout) == json.loads(local.stdout)
    assert json.loads(local.stdout)["hits"]
    ops = _ops_of(lakehouse, "forklift driver at night")
    assert [op["source"] for op in ops if op["mode"] == "matrix.search"] == ["http", "mode"]


def test_playbook_record_and_lookup_go_through_the_api(api):
    _, lakehouse = api
    record = ["--query", "reach truck driver", "--answer", "J-101", "--corpus", "jobs", "--score", "1"]
    assert json.loads(invoke_cli("playbook", "record", *record, "--json").stdout)["recorded"] == 1
    found = json.loads(invoke_cli("playbook", "lookup", "reach truck driver", "--json").stdout)
    assert [m["answer"] for m in found["matches"] if m["query"] == "reach truck driver"] == ["J-101"]
    sources = {op["mode"]: op["source"] for op in _ops_of(lakehouse, "reach truck driver")}
    assert sources["playbook.record"] == sources["playbook.lookup"] == "http"


def test_a_rating_goes_through_the_api_and_lands_as_playbook_and_evidence(api):
    _, lakehouse = api
    rated = invoke_cli("rate", "order picker", "--corpus", "jobs", "--good", "J-101", "--json")
    assert "loading the embedding model" not in rated.stderr
    assert json.loads(rated.stdout)["recorded"] == 1
    sources = {op["mode"]: op["source"] for op in _ops_of(lakehouse, "order picker")}
    assert sources["matrix.feedback"] == "http"
    assert [e.answer for e in lakehouse.playbooks.entries() if e.query == "order picker"] == ["J-101"]
    evidence = (lakehouse.settings.home_dir / lakehouse.settings.drift_evidence).read_text().splitlines()
    mine = [json.loads(line) for line in evidence if "order picker" in line]
    assert len(mine) == 1 and mine[0]["answer"].startswith("J-101")


def test_a_file_entry_that_is_not_unicode_is_named_as_without_the_api(api, tmp_path):
    """Sent to the API it was a raw UnicodeEncodeError (exit 2); it runs in-process instead, where
    each entry is answered on its own."""
    _, lakehouse = api
    entries = tmp_path / "entries.jsonl"
    good = {"query": "pallet jack driver", "answer": "J-101", "corpus": "jobs", "score": 1}
    entries.write_text(json.dumps(good) + "\n" + json.dumps({**good, "query": "bad \udc80 text"}) + "\n")
    result = invoke_cli("playbook", "import", str(entries), "--json", code=1)
    assert "UnicodeEncodeError" not in result.stderr + result.stdout
    assert "field 'query'" in result.stdout + result.stderr
    assert [e.query for e in lakehouse.playbooks.entries() if "text" in e.query or "pallet" in e.query] == [
        "pallet jack driver"
    ]


def test_a_command_the_token_protected_api_refuses_says_how_to_run_it(api_with_token):
    """It said "send 'Authorization: Bearer <token>'" to a user who sent no HTTP request knowingly."""
    err = " ".join(_search_fails().stderr.split())
    assert f"the running `lakehouse api` at {api_with_token['url']} (which this command goes through) refused it" in err
    assert "set LH_API_TOKEN to its token, or LH_CLI_USE_API=false to run in this process" in err


def _search_fails():
    return invoke_cli("search", "forklift driver", "--corpus", "jobs", "--json", code=1)


def test_an_api_error_is_reported_like_a_local_one(api):
    err = invoke_cli("search", "x", "--corpus", "nosuch", code=1).stderr
    assert "corpus 'nosuch' not found" in err


def test_a_stale_state_file_is_ignored(lh_home, tmp_path):
    """A state file whose process is gone (or serves another home) routes nothing."""
    lh_home.mkdir(parents=True, exist_ok=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    info = {"url": "http://127.0.0.1:9", "pid": int(dead.stdout), "home": str(lh_home.resolve())}
    state_path(lh_home.resolve()).write_text(json.dumps(info))
    assert running_api(lh_home.resolve()) is None
    info.update(pid=os.getppid(), home=str(tmp_path / "elsewhere"))
    state_path(lh_home.resolve()).write_text(json.dumps(info))
    assert running_api(lh_home.resolve()) is None


def test_the_state_file_is_removed_when_the_api_stops(lakehouse, minilm, lh_home):
    proc = subprocess.Popen(
        [sys.executable, "-c", "from flows.cli import main; main()", "api", "--port", "0", "--log-level", "warning"],
        cwd=REPO,
        env={**os.environ, "LH_HOME": str(lh_home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    path = state_path(lh_home.resolve())
    deadline = time.monotonic() + 120
    while not path.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    assert json.loads(path.read_text())["pid"] == proc.pid
    proc.terminate()
    proc.wait(timeout=60)
    assert not path.exists()
