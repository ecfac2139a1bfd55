"""O*NET's alternate titles as a ratings file: only the corpus's occupations, never an excluded
(test) title, deterministic, and bad arguments named before anything is written."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from lakehouse.common.text import fold
from lakehouse.learning.errors import RatingError
from lakehouse.learning.lift.queries import read_queries
from lakehouse.learning.seed_titles import alternate_titles, write_title_ratings

LIFT = Path(__file__).resolve().parents[3] / "examples" / "lift"
TEST_SET = LIFT / "titles_test.jsonl"


def transport_ids() -> set[str]:
    return {code for item in alternate_titles() for code in item["expected"] if code.startswith("53-")}


def test_ratings_hold_only_corpus_occupations_and_no_test_title(tmp_path):
    ids = transport_ids()
    result = write_title_ratings(tmp_path / "seed.csv", "onet", ids, [TEST_SET], limit=300)
    rows = list(csv.DictReader((tmp_path / "seed.csv").open(encoding="utf-8")))
    assert result.titles == 300 and result.ratings == len(rows) >= 300
    assert {r["id"] for r in rows} <= ids and {r["corpus"] for r in rows} == {"onet"}
    assert {r["verdict"] for r in rows} == {"good"} and {r["by"] for r in rows} == {"onet-27.0-alternate-titles"}
    unseen = {fold(line.item.query) for line in read_queries(TEST_SET)}
    assert not {fold(r["query"]) for r in rows} & unseen
    assert result.excluded_titles == len(unseen)  # every test title is one of O*NET's alternate titles
    assert result.not_in_corpus > 0  # the titles' other occupations, outside the transport slice


def test_same_seed_same_file_and_jsonl(tmp_path):
    ids = transport_ids()
    write_title_ratings(tmp_path / "a.jsonl", "onet", ids, [], limit=50, seed=3)
    write_title_ratings(tmp_path / "b.jsonl", "onet", ids, [], limit=50, seed=3)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    first = json.loads((tmp_path / "a.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert set(first) == {"query", "corpus", "id", "verdict", "by", "note"}


def test_every_title_once_with_all_its_occupations():
    titles = alternate_titles()
    assert len({fold(t["query"]) for t in titles}) == len(titles) > 40_000
    assert all(t["expected"] == sorted(set(t["expected"])) for t in titles)


@pytest.mark.parametrize(
    "name, limit, message",
    [
        ("seed.txt", None, r"--out .*seed.txt: expected a .csv or .jsonl file name"),
        ("seed.csv", 0, r"--titles 0: give at least 1 title"),
    ],
)
def test_bad_arguments_write_nothing(tmp_path, name, limit, message):
    with pytest.raises(RatingError, match=message):
        write_title_ratings(tmp_path / name, "onet", {"53-7051.00"}, [], limit=limit)
    assert list(tmp_path.iterdir()) == []
