"""A `rating_id` names one rating: another rating under it (recorded before, or earlier in the same
batch) is refused with both named and nothing of the batch stored; the same rating is a duplicate."""

from __future__ import annotations

import pytest

from lakehouse.learning.errors import RatingConflict, RatingsRejected
from lakehouse.learning.ratings import record_ratings
from tests.fixtures import ratings
from tests.fixtures.ratings import HYGIENIST, NURSE, logs, open_home

rating_home = ratings.rating_home

GOOD = {"query": "ICU nurse", "corpus": "health", "id": NURSE, "verdict": "good", "rating_id": "q1"}


def test_another_rating_under_a_recorded_rating_id_is_a_conflict(rating_home):
    lh = open_home(rating_home)
    assert record_ratings(lh, [GOOD], source="mode").recorded == 1
    before = logs(rating_home)
    again = record_ratings(lh, [{**GOOD, "note": "said twice"}], source="mode")
    assert (again.recorded, again.duplicates) == (0, 1)
    other = {**GOOD, "query": "dental cleaning", "verdict": "bad"}
    with pytest.raises(
        RatingConflict,
        match=r"rating rejected, nothing stored: field 'rating_id': 'q1' already names another recorded rating "
        r"\(query 'ICU nurse', id '29-1141.00' of corpus 'health', verdict good\); this one differs in its "
        r"query, verdict: give it a rating_id of its own",
    ):
        record_ratings(lh, [other], source="mode")
    assert logs(rating_home) == before
    lh.close()


def test_two_ratings_under_one_rating_id_in_a_batch_store_nothing(rating_home):
    lh = open_home(rating_home)
    batch = [GOOD, {**GOOD, "id": HYGIENIST}, {**GOOD, "query": "x", "rating_id": "q2"}]
    with pytest.raises(
        RatingConflict,
        match=r"1 of 3 ratings rejected, nothing stored: row 2, field 'rating_id': 'q1' also names row 1 "
        r"\(query 'ICU nurse', id '29-1141.00' of corpus 'health', verdict good\); this one differs in its id",
    ):
        record_ratings(lh, batch, source="mode")
    assert logs(rating_home) == (b"", b"")
    # a conflict beside another kind of problem is a plain rejection (400), listing both
    unknown = {"query": "y", "corpus": "health", "id": "00-0000.00", "verdict": "good"}
    with pytest.raises(
        RatingsRejected,
        match=r"2 of 3 ratings rejected, nothing stored: row 3, field 'id': corpus 'health' has no id '00-0000.00'.*; "
        r"row 2, field 'rating_id': 'q1' also names row 1",
    ) as caught:
        record_ratings(lh, [GOOD, {**GOOD, "verdict": "bad"}, unknown], source="mode")
    assert not isinstance(caught.value, RatingConflict)
    assert logs(rating_home) == (b"", b"")
    lh.close()


def test_a_playbook_entry_with_another_score_under_the_rating_id_is_a_conflict(rating_home):
    """A judge's pick (-0.3) under the id passed the check (bad means -1) and failed the write: a
    400 "run it again" for ever, and the batch's other ratings without evidence (a probe)."""
    lh = open_home(rating_home)
    entry = {"id": "pbx-2", "query": "ICU nurse", "answer": NURSE, "corpus": "health", "score": -0.3}
    assert lh.playbooks.record_many([entry])["recorded"] == 1
    before = logs(rating_home)
    ok = {**GOOD, "rating_id": "ok-1", "query": "night nurse"}
    with pytest.raises(
        RatingConflict,
        match=r"row 2, field 'rating_id': 'pbx-2' already names another recorded rating \(.*verdict "
        r"score -0\.3\); this one differs in its verdict",
    ):
        record_ratings(lh, [ok, {**GOOD, "rating_id": "pbx-2", "verdict": "bad"}], source="mode")
    assert logs(rating_home) == before
    lh.close()


def test_a_rating_another_writer_records_meanwhile_under_the_id_leaves_the_others_complete(rating_home, monkeypatch):
    """The check passed, then another process recorded another rating under one of the batch's ids
    before this batch's write: the others keep their evidence, and the conflict is named (409)."""
    import lakehouse.learning.ratings as module

    lh = open_home(rating_home)
    checked_first = module.check_conflicts

    def then_another_writer(*args):
        found = checked_first(*args)
        other = {"id": "r-2", "query": "someone else's", "answer": NURSE, "corpus": "health", "score": 1.0}
        assert lh.playbooks.record_many([other])["recorded"] == 1
        return found

    monkeypatch.setattr(module, "check_conflicts", then_another_writer)
    batch = [{**GOOD, "rating_id": "r-1"}, {**GOOD, "rating_id": "r-2"}]
    with pytest.raises(
        RatingConflict,
        match=r"1 of 2 ratings conflict with ratings another writer recorded meanwhile under their rating_id "
        r"\(row 2, field 'rating_id': id 'r-2' already names another judgement .*\); the other 1 were stored with "
        r"their evidence",
    ):
        record_ratings(lh, batch, source="mode")
    monkeypatch.undo()
    evidence = [line for line in (rating_home / "evidence.jsonl").read_text().splitlines()]
    assert len(evidence) == 1 and '"id":"r-1"' in evidence[0].replace(" ", "")
    again = record_ratings(lh, [batch[0]], source="mode")  # what the caller sends again: nothing twice
    assert (again.recorded, again.duplicates) == (0, 1)
    lh.close()
