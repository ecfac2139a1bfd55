"""A rating that could not be stored at all (the home's disk full) said "the others were stored:
run it again to store the rest once" — there were no others."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.learning.errors import RatingError
from lakehouse.learning.ratings import record_ratings
from tests.fixtures.small_disk import SmallDisk


def test_a_rating_that_cannot_be_stored_says_nothing_was_stored(small_disk: SmallDisk):
    lh = Lakehouse(Settings(home=small_disk.path / "home", embed_model="wordllama", hnsw_threads=1))
    try:
        lh.tables.write_arrow("t", pa.table({"id": ["n1", "w1"], "text": ["registered nurse", "welder"]}))
        lh.corpora.build("c", "t", ["text"], "id")
        small_disk.fill(0)

        with pytest.raises(
            RatingError,
            match=r"^could not store 1 of 1 ratings as playbooks \(could not store the entry: .*No space left on "
            r"device.*\); nothing was stored: run it again once that is fixed$",
        ):
            record_ratings(lh, [{"query": "nurse", "corpus": "c", "id": "n1", "verdict": "good"}], source="mode")
    finally:
        lh.close()
