"""A torn line in this home's evidence log (what a writer killed mid-append or a full disk leaves:
the next rating starts a line of its own after it, as the log's writers are built to). The readers
of the evidence history refused the whole log at that line, so the nightly scorer drift and
distillation failed every night after until someone edited the live log by hand. They skip it and
say so; a file the user names as input is still refused at its first bad line."""

from __future__ import annotations

import json
import shutil

import pytest

from flows.jobs import drift_nightly_flow
from tests.fixtures import ratings
from tests.fixtures.cli import invoke_cli
from tests.fixtures.ratings import NURSE

rating_home = ratings.rating_home  # the fixture: a writable copy of the health home


def _rate(query: str) -> None:
    invoke_cli("rate", query, "--corpus", "health", "--good", NURSE)


def test_a_torn_evidence_line_costs_one_record_not_every_nightly_run(rating_home, tmp_path, caplog):
    log = rating_home / "evidence.jsonl"
    _rate("ICU nurse for nights")
    with open(log, "ab") as fh:
        fh.write(b'{"query":"Cook","answer":"35-2014.00 Cooks, Res')  # killed mid-append
    _rate("night shift RN")  # starts its record on a line of its own

    drift = invoke_cli("drift", "scorer", "--evidence", str(log), "--old", "v1", "--new", "v2", "--json")
    assert json.loads(drift.stdout)["total"] == 2
    assert f"{log}: corrupt line 2: Unterminated string starting at: column 26" in caplog.messages
    scored = json.loads(invoke_cli("distill", "score", "--evidence", str(log), "--json").stdout)
    assert sum(scored["counts"].values()) == 2

    copy = tmp_path / "history.jsonl"  # the same bytes as a file the user hands in: an input, checked
    shutil.copy(log, copy)
    refused = invoke_cli("drift", "scorer", "--evidence", str(copy), "--old", "v1", code=1)
    assert f"{copy} line 2, column" in " ".join(refused.stderr.split())


@pytest.mark.prefect
def test_the_nightly_drift_run_reads_past_a_torn_evidence_line(prefect_server, rating_home):
    _rate("ICU nurse for nights")
    with open(rating_home / "evidence.jsonl", "ab") as fh:
        fh.write(b'{"query":"Cook","answer":"35-2')
    _rate("night shift RN")
    report = drift_nightly_flow(corpora=["health"])
    scorer = {c["check"]: c for c in report["checks"]}["scorer"]
    assert (scorer["status"], scorer["result"]["total"]) == ("ok", 2), scorer
