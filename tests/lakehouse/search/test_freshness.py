"""A long-running process (the API) serves what other processes wrote, and a killed import re-runs
cleanly.

One `Lakehouse` handle stands for the long-running API; the writer is a separate process running
the real CLI (`lakehouse ...`) on the same LH_HOME. Embeddings come from WordLlama (real, fast).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from modes.context import ModeContext
from modes.invoke import invoke_mode
from tests.fixtures.vectors import jobs_table

LAKEHOUSE_CLI = Path(sys.executable).with_name("lakehouse")
MODEL = "wordllama"


def cli(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The real CLI in its own process on `home`; fails the test on a non-zero exit."""
    done = subprocess.run(
        [str(LAKEHOUSE_CLI), *args], env=cli_env(home, env), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
    return done


def cli_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "LH_HOME": str(home), "LH_EMBED_MODEL": MODEL, **(extra or {})}


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def api(home) -> Iterator[Lakehouse]:
    """The long-running handle, with the `jobs` corpus built (and already loaded in memory)."""
    lh = Lakehouse(Settings(home=home, embed_model=MODEL))
    lh.tables.write_arrow("jobs", jobs_table(), mode="overwrite")
    lh.corpora.build("jobs", "jobs", ["title", "description"], "job_id", ["city", "state", "shift"])
    yield lh
    lh.close()


def search(lh: Lakehouse, query: str) -> dict:
    return invoke_mode(
        "matrix.search",
        {"query": query, "corpora": ["jobs"], "relevance": False, "top_n": 16, "top_k": 16},
        ModeContext(lakehouse=lh),
    )


def complete_lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [line for line in path.read_bytes().decode().split("\n")[:-1] if line]


# freshness ---------------------------------------------------------------------------------
def test_a_playbook_recorded_by_another_process_is_seen_by_the_running_handle(api):
    query = "forklift driver for the night shift"
    assert invoke_mode("playbook.lookup", {"query": query}, ModeContext(lakehouse=api))["count"] == 0
    cold = search(api, query)
    assert not any(h["boosted_by"] for h in cold["hits"])
    pick = cold["hits"][5]["id"]
    read_before = getattr(api.playbooks.log, "bytes_read", 0)

    out = json.loads(
        cli(
            api.settings.home_dir,
            "playbook",
            "record",
            "--query",
            query,
            "--answer",
            pick,
            "--corpus",
            "jobs",
            "--score",
            "1",
            "--json",
        ).stdout
    )
    entry_id = out["results"][0]["id"]

    found = invoke_mode("playbook.lookup", {"query": query}, ModeContext(lakehouse=api))
    assert [(m["id"], m["answer"]) for m in found["matches"]] == [(entry_id, pick)]
    line = complete_lines(api.settings.playbook_log)[-1]
    assert api.playbooks.log.bytes_read - read_before == len(line) + 1  # only the new tail was read
    warm = search(api, query)
    assert warm["hits"][0]["id"] == pick and warm["hits"][0]["boosted_by"] == [entry_id]


def test_a_corpus_changed_by_another_process_is_served_on_the_next_search(api, tmp_path):
    home = api.settings.home_dir
    query = "forklift operator in a warehouse"
    assert "J-101" in [h["id"] for h in search(api, query)["hits"]]
    in_flight = api.corpora.get("jobs")  # what a search that started now would hold

    cli(home, "corpus", "delete", "jobs", "--ids", "J-101")
    assert "J-101" not in [h["id"] for h in search(api, query)["hits"]]
    assert api.corpora.get("jobs") is not in_flight
    raw = in_flight.search(api.corpora.embedder().embed([query]), 16)[0]
    assert "J-101" in [h.id for h in raw]  # the index a search started on is left as it was

    rebuilt = json.loads(cli(home, "corpus", "rebuild", "jobs", "--json").stdout)
    served = api.corpora.get("jobs")
    assert served.manifest.version == rebuilt["manifest"]["version"] == 3
    assert served.manifest.index_key == rebuilt["manifest"]["index_key"]
    assert "J-101" not in [h["id"] for h in search(api, query)["hits"]]

    # A new source row: ingested and embedded by other processes, then found by the running handle.
    extra = tmp_path / "extra.csv"
    extra.write_text(
        "job_id,title,description,city,state,shift\n"
        "J-900,Beekeeper,Tend honey bee hives and harvest honey on an apiary farm.,Peoria,IL,day\n"
    )
    assert [list(r) for r in api.sql.query("SELECT count(*) AS n FROM jobs").rows] == [[16]]
    cli(home, "ingest", str(extra), "--table", "jobs")
    assert [list(r) for r in api.sql.query("SELECT count(*) AS n FROM jobs").rows] == [
        [17]
    ]  # SQL sees the new snapshot
    added = json.loads(cli(home, "corpus", "add", "jobs", "--json").stdout)
    assert (added["status"], added["added"]) == ("added", 1)
    assert search(api, "beekeeper for honey bee hives")["hits"][0]["id"] == "J-900"


def test_a_corpus_replaced_through_another_handle_is_served(api):
    other = Lakehouse(Settings(home=api.settings.home_dir, embed_model=MODEL))
    try:
        assert search(api, "registered nurse")["hits"][0]["id"] in {"J-107", "J-108"}
        other.corpora.build("jobs", "jobs", ["title", "description"], "job_id", where="state = 'WI'", replace=True)
        ids = {h["id"] for h in search(api, "registered nurse")["hits"]}
        assert ids == {"J-102", "J-105", "J-108", "J-111", "J-113", "J-115"}  # only the WI rows now
        other.corpora.drop("jobs")
        with pytest.raises(Exception, match="corpus 'jobs' not found"):
            search(api, "registered nurse")
    finally:
        other.close()


def test_pathway_traces_added_by_another_process_are_seen_reading_only_the_new_tail(home):
    lh = Lakehouse(Settings(home=home, embed_model=MODEL))
    try:
        for i in range(40):
            lh.pathway.add(f"shift note {i}: pallets restacked in aisle {i}", {"team": "ops"}, trace_id=f"note-{i}")
        assert (
            invoke_mode("pathway.search", {"query": "bee hives on the farm"}, ModeContext(lakehouse=lh))["count"] == 5
        )
        read_before = getattr(lh.pathway.log, "bytes_read", 0)

        cli(
            home,
            "pathway",
            "add",
            "harvested honey from the bee hives on the farm",
            "--id",
            "honey-1",
            "--meta",
            "team=farm",
        )
        found = invoke_mode("pathway.search", {"query": "bee hives on the farm", "top_k": 1}, ModeContext(lakehouse=lh))
        assert [h["trace"]["id"] for h in found["hits"]] == ["honey-1"]
        line = complete_lines(lh.pathway.path)[-1]
        assert lh.pathway.log.bytes_read - read_before == len(line) + 1  # 1 event folded, not 41

        cli(home, "pathway", "retire", "honey-1", "--reason", "moved to the farm log")
        assert lh.pathway.get("honey-1").status == "retired"
        assert "honey-1" not in [
            h["trace"]["id"]
            for h in invoke_mode("pathway.search", {"query": "bee hives on the farm"}, ModeContext(lakehouse=lh))[
                "hits"
            ]
        ]
    finally:
        lh.close()


def test_the_api_over_http_serves_what_the_cli_wrote(home):
    from tests.fixtures.http import make_settings, serve

    writer = Lakehouse(Settings(home=home, embed_model=MODEL))
    writer.tables.write_arrow("jobs", jobs_table(), mode="overwrite")
    writer.corpora.build("jobs", "jobs", ["title", "description"], "job_id", ["state"])
    writer.close()
    query = "cook for a restaurant kitchen"
    body = {"query": query, "corpora": ["jobs"], "relevance": False, "top_k": 16, "top_n": 16}
    with serve(make_settings(home, embed_model=MODEL)) as live, live.client() as http:
        cold = http.post("/v1/matrix/search", json=body).json()
        pick = cold["hits"][4]["id"]
        out = json.loads(
            cli(
                home,
                "playbook",
                "record",
                "--query",
                query,
                "--answer",
                pick,
                "--corpus",
                "jobs",
                "--score",
                "1",
                "--json",
            ).stdout
        )
        warm = http.post("/v1/matrix/search", json=body).json()
        assert warm["hits"][0]["id"] == pick and warm["hits"][0]["boosted_by"] == [out["results"][0]["id"]]

        cli(home, "corpus", "delete", "jobs", "--ids", pick)
        after = http.post("/v1/matrix/search", json=body).json()
        assert pick not in [h["id"] for h in after["hits"]]

        cli(home, "pathway", "add", "the walk-in freezer door sticks", "--id", "freezer-1")
        found = http.post("/v1/pathway/search", json={"query": "freezer door", "top_k": 1}).json()
        assert [h["trace"]["id"] for h in found["hits"]] == ["freezer-1"]


# imports: a kill mid-way, then a re-run ------------------------------------------------------
def _entries(n: int) -> list[dict]:
    jobs = jobs_table().column("job_id").to_pylist()
    return [
        {
            "query": f"staffing request number {i} for a {['night', 'day', 'evening'][i % 3]} shift",
            "answer": jobs[i % len(jobs)],
            "corpus": "jobs",
            "score": round(0.2 + (i % 8) / 10, 1),
        }
        for i in range(n)
    ]


def test_sigkill_during_a_playbook_import_then_a_rerun_stores_every_entry_once(api, tmp_path):
    home = api.settings.home_dir
    entries = _entries(400)
    source = tmp_path / "import.jsonl"
    source.write_text("".join(json.dumps(e) + "\n" for e in entries))
    log = api.settings.playbook_log

    # The test hook pauses the importer after its 150th append; it is killed there.
    process = subprocess.Popen(
        [str(LAKEHOUSE_CLI), "playbook", "import", str(source), "--json"],
        env=cli_env(home, {"LH_FAULT_PLAYBOOK_PAUSE_AFTER": "150"}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 240
    try:
        while len(complete_lines(log)) < 150:
            assert process.poll() is None, process.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the import never reached its 150th entry"
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert len(complete_lines(log)) == 150
    assert len(api.playbooks.entries()) == 150  # the running handle sees the partial import
    with open(log, "ab") as fh:  # a kill can also land mid-write: the torn line such a write leaves
        fh.write(b'{"id": "pb-torn", "query": "staffing requ')

    rerun = subprocess.run(
        [str(LAKEHOUSE_CLI), "playbook", "import", str(source), "--json"],
        env=cli_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    report = json.loads(rerun.stdout)
    assert (report["recorded"], report["skipped"], report["failed"]) == (250, 150, 0)
    statuses = [r.get("status", "recorded") for r in report["results"]]
    assert statuses == ["duplicate"] * 150 + ["recorded"] * 250

    lines = complete_lines(log)  # the torn fragment is a line of its own, skipped as corrupt
    assert lines[150] == '{"id": "pb-torn", "query": "staffing requ'
    rows = [json.loads(line) for line in lines[:150] + lines[151:]]
    assert len(rows) == 400 and len({r["id"] for r in rows}) == 400
    assert sorted((r["query"], r["answer"], r["score"]) for r in rows) == sorted(
        (e["query"], e["answer"], e["score"]) for e in entries
    )
    assert len(api.playbooks.entries()) == 400

    again = json.loads(cli(home, "playbook", "import", str(source), "--json").stdout)
    assert (again["recorded"], again["skipped"]) == (0, 400)
    assert len(complete_lines(log)) == 401
    text = cli(home, "playbook", "import", str(source)).stdout
    assert "entry 0: skipped pb-" in text and "(duplicate: already recorded)" in text
    assert "0 recorded, 0 failed, 400 skipped (already recorded)" in text


def test_a_playbook_batch_is_idempotent_by_given_id_or_content(api):
    ctx = ModeContext(lakehouse=api)
    batch = [
        {"query": "welder for steel beams", "answer": "J-104", "corpus": "jobs", "score": 1},
        {"query": "welder for steel beams", "answer": "J-104", "corpus": "jobs", "score": 1},  # same content
        {"id": "mine-1", "query": "welder", "answer": "J-106", "corpus": "jobs", "score": 0.5},
        {"query": "welder for steel beams", "answer": "J-104", "corpus": "jobs", "score": 0.9},  # other score
        {"query": "welder", "answer": "J-999", "corpus": "jobs", "score": 1},
    ]
    first = invoke_mode("playbook.record", {"entries": batch}, ctx)
    assert (first["recorded"], first["skipped"], first["failed"]) == (3, 1, 1)
    assert first["results"][1] == {"index": 1, "id": first["results"][0]["id"], "error": None, "status": "duplicate"}
    assert first["results"][2]["id"] == "mine-1"
    assert first["results"][4]["error"] == "corpus 'jobs' has no id 'J-999'"
    second = invoke_mode("playbook.record", {"entries": batch}, ctx)
    assert (second["recorded"], second["skipped"], second["failed"]) == (0, 4, 1)
    single = invoke_mode(
        "playbook.record", {"id": "mine-1", "query": "welder", "answer": "J-106", "corpus": "jobs", "score": 0.5}, ctx
    )
    assert (single["recorded"], single["skipped"]) == (0, 1)
    assert len(complete_lines(api.settings.playbook_log)) == 3
    # One entry without an id is a new judgement each time (not a batch: no content id).
    invoke_mode("playbook.record", {"query": "welder", "answer": "J-106", "corpus": "jobs", "score": 0.5}, ctx)
    invoke_mode("playbook.record", {"query": "welder", "answer": "J-106", "corpus": "jobs", "score": 0.5}, ctx)
    assert len(complete_lines(api.settings.playbook_log)) == 5


# the log cursor underneath ------------------------------------------------------------------
def test_read_since_returns_only_new_complete_lines_and_resets_on_a_replaced_file(tmp_path):
    from lakehouse.common.jsonl import AppendLog

    path = tmp_path / "log.jsonl"
    log = AppendLog(path)
    records, cursor, reset = log.read_since(None)
    assert (records, reset) == ([], True) and not log.changed(cursor)
    log.append({"n": 1})
    log.append({"n": 2})
    assert log.changed(cursor)
    records, cursor, reset = log.read_since(cursor)
    assert ([r["n"] for r in records], reset) == ([1, 2], False)
    with open(path, "ab") as fh:  # another process mid-append: not read until its newline lands
        fh.write(b'{"n": 3')
    assert log.read_since(cursor)[0] == []
    with open(path, "ab") as fh:
        fh.write(b'}\nnot json\n{"n": 4}\n')
    records, cursor, reset = log.read_since(cursor)
    assert [r["n"] for r in records] == [3, 4] and not reset
    assert [str(c) for c in log.report.corrupt] == ["line 4: Expecting value: column 1"]
    assert log.read_since(cursor) == ([], cursor, False)  # unchanged: nothing read

    replacement = tmp_path / "new.jsonl"
    replacement.write_text('{"n": 10}\n')
    replacement.replace(path)  # same size or not, another file: read from the start
    records, cursor, reset = log.read_since(cursor)
    assert ([r["n"] for r in records], reset) == ([10], True)
    path.unlink()
    assert log.read_since(cursor) == ([], log.read_since(None)[1], True)


def test_two_importers_of_the_same_batch_at_once_store_each_entry_once(api):
    import threading

    from lakehouse.search.playbooks import PlaybookStore

    path = api.settings.playbook_log
    stores = [PlaybookStore(path, lambda: api.corpora.embedder()) for _ in range(2)]  # two handles, two fds
    batch = _entries(120)
    reports: list[dict] = []
    barrier = threading.Barrier(2)

    def run(store):
        barrier.wait()
        reports.append(store.record_many(batch, idempotent=True))

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted((r["recorded"], r["skipped"]) for r in reports) == [(0, 120), (120, 0)]
    rows = complete_lines(path)
    assert len(rows) == 120 and len({json.loads(r)["id"] for r in rows}) == 120
