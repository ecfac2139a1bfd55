"""A rating whose playbook entry was stored but whose evidence record could not be written says
so, naming the rating, and sending it again under that id completes it: nothing stored twice. It
was a raw IsADirectoryError, and the natural retry (a new time, so a new id) voted twice."""

from __future__ import annotations

import json

import pytest

from lakehouse.learning.errors import RatingsPartlyStored
from lakehouse.learning.ratings import record_ratings
from tests.fixtures import ratings
from tests.fixtures.ratings import NURSE, open_home

rating_home = ratings.rating_home

ONE = {"query": "ICU nurse, nights", "corpus": "health", "id": NURSE, "verdict": "good"}


def test_a_rating_stored_without_its_evidence_is_named_and_completed_by_sending_it_again(rating_home):
    evidence = rating_home / "evidence.jsonl"
    evidence.mkdir()  # the log cannot be written (a full disk, a bad mount, a permission)
    lh = open_home(rating_home)
    try:
        with pytest.raises(
            RatingsPartlyStored,
            match=r"the evidence log .*evidence\.jsonl could not be written \(Is a directory\): 1 rating\(s\) are "
            r"stored as playbook entries without their evidence record \((rt-[0-9a-f]+)\); fix the log, then send "
            r"it again with rating_id rt-[0-9a-f]+ \(--rating-id\): nothing is stored twice",
        ) as caught:
            record_ratings(lh, [ONE], source="mode", stamp=True)
        (rid,) = caught.value.ids
        assert [e.id for e in lh.playbooks.entries()] == [rid]
        evidence.rmdir()
        again = record_ratings(lh, [{**ONE, "rating_id": rid}], source="mode", stamp=True)
        assert (again.results[0].playbook, again.results[0].evidence) == ("duplicate", "recorded")
        assert [e.id for e in lh.playbooks.entries()] == [rid]
        assert [json.loads(line)["id"] for line in evidence.read_text().splitlines()] == [rid]
    finally:
        lh.close()
