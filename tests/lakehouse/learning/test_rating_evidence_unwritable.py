"""A rating whose playbook entry was stored but whose evidence record could not be written says
so, naming the rating, and sending it again under that id completes it: nothing stored twice. It
was a raw IsADirectoryError, and the natural retry (a new time, so a new id) voted twice."""

from __future__ import annotations

import errno
import json

import pytest

from lakehouse.common.jsonl import AppendLog
from lakehouse.learning.errors import EvidenceLogUnwritable, RatingsPartlyStored
from lakehouse.learning.ratings import record_ratings
from tests.fixtures import ratings
from tests.fixtures.ratings import NURSE, open_home

rating_home = ratings.rating_home

ONE = {"query": "ICU nurse, nights", "corpus": "health", "id": NURSE, "verdict": "good"}


def test_a_rating_stored_without_its_evidence_is_named_and_completed_by_sending_it_again(rating_home, monkeypatch):
    evidence = rating_home / "evidence.jsonl"

    append = AppendLog.append

    def full(self, record):  # the evidence log opened, then its write failed (a full disk)
        if self.path == evidence:
            raise OSError(errno.ENOSPC, "No space left on device")
        append(self, record)

    monkeypatch.setattr(AppendLog, "append", full)
    lh = open_home(rating_home)
    try:
        with pytest.raises(
            RatingsPartlyStored,
            match=r"the evidence log .*evidence\.jsonl could not be written \(No space left on device\): 1 rating\(s\) "
            r"are stored as playbook entries without their evidence record \((rt-[0-9a-f]+)\); fix the log, then send "
            r"it again with rating_id rt-[0-9a-f]+ \(--rating-id\): nothing is stored twice",
        ) as caught:
            record_ratings(lh, [ONE], source="mode", stamp=True)
        (rid,) = caught.value.ids
        assert [e.id for e in lh.playbooks.entries()] == [rid]
        monkeypatch.undo()
        again = record_ratings(lh, [{**ONE, "rating_id": rid}], source="mode", stamp=True)
        assert (again.results[0].playbook, again.results[0].evidence) == ("duplicate", "recorded")
        assert [e.id for e in lh.playbooks.entries()] == [rid]
        assert [json.loads(line)["id"] for line in evidence.read_text().splitlines()] == [rid]
    finally:
        lh.close()


def test_an_evidence_log_that_cannot_be_opened_stores_nothing_and_a_retry_counts_once(rating_home):
    evidence = rating_home / "evidence.jsonl"
    evidence.mkdir()  # the log cannot be written (a bad mount, a permission, a directory in its place)
    playbooks = rating_home / "playbooks.jsonl"
    before = playbooks.read_bytes() if playbooks.exists() else b""
    lh = open_home(rating_home)
    try:
        for _ in range(2):  # the plain retry of an interactive rating: a new time, a new id
            with pytest.raises(
                EvidenceLogUnwritable,
                match=r"the evidence log .*evidence\.jsonl cannot be written \(Is a directory\); nothing was "
                r"stored: fix the log, then rate again",
            ):
                record_ratings(lh, [ONE], source="mode", stamp=True)
        assert lh.playbooks.entries() == []
        assert (playbooks.read_bytes() if playbooks.exists() else b"") == before
        evidence.rmdir()
        done = record_ratings(lh, [ONE], source="mode", stamp=True)
        assert done.recorded == 1 and len(lh.playbooks.entries()) == 1
        assert len(evidence.read_text().splitlines()) == 1
    finally:
        lh.close()
