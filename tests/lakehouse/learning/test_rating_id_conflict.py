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
