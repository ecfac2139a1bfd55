"""A lift file with many bad lines stopped at the first: a user mending a 2,000-line test set found
the next bad line only by running again, once per line. Every bad line is named in one error now
(the first 20, then a count), as `rate --file` names every bad row; nothing runs."""

from __future__ import annotations

import json

import pytest

from lakehouse.common.recordfile import InputFileError
from lakehouse.learning.lift.harness import run_lift
from lakehouse.learning.lift.queries import read_queries
from tests.fixtures.lift import write_queries


def test_every_bad_line_of_a_query_file_is_named(tmp_path):
    path = tmp_path / "test.jsonl"
    rows = [{"query": "welder", "expected": ["51-4121.00"]}, {"query": " "}, ["nurse"], {"query": "cook", "x": 1}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(InputFileError) as caught:
        read_queries(path)
    message = str(caught.value)
    assert message.startswith(f"3 bad lines in {path}, nothing was run: {path} line 2, field 'query': must not be")
    assert f"{path} line 3: expected a JSON object" in message
    assert f"{path} line 4, field 'x': Extra inputs are not permitted" in message


def test_a_long_list_names_the_first_twenty_and_counts_the_rest(tmp_path):
    path = write_queries(tmp_path / "test.jsonl", [{"query": f"title {n}"} for n in range(30)])
    with pytest.raises(InputFileError) as caught:
        read_queries(path, require_expected=True)
    message = str(caught.value)
    assert message.startswith(f"30 bad lines in {path}, nothing was run: {path} line 1, field 'expected': required")
    assert f"{path} line 20," in message and f"{path} line 21," not in message
    assert message.endswith("; and 10 more")


def test_one_bad_line_reads_as_before(tmp_path):
    path = write_queries(tmp_path / "test.jsonl", [{"query": "welder"}, {"query": ""}])
    with pytest.raises(InputFileError, match=r"^\S+test\.jsonl line 2, field 'query': String should have at least"):
        read_queries(path)


def test_every_unknown_id_and_every_shared_query_is_named(vector_world, tmp_path):
    out = tmp_path / "out"
    unknown = write_queries(
        tmp_path / "unknown.jsonl",
        [
            {"query": "welder", "expected": ["51-4121.00"]},
            {"query": "a", "expected": ["99-1"]},
            {"query": "b", "expected": ["99-2"]},
        ],
    )
    with pytest.raises(
        InputFileError,
        match=r"^2 expected ids are in no corpus, nothing was run: .*line 2, field 'expected': id '99-1' is in none "
        r"of the corpora occupations; .*line 3, field 'expected': id '99-2'",
    ):
        run_lift(vector_world, ["occupations"], queries=unknown, out_dir=out)
    train = write_queries(tmp_path / "train.jsonl", [{"query": "Welder"}, {"query": "Nurse"}])
    test = write_queries(
        tmp_path / "test.jsonl",
        [{"query": "welder", "expected": ["51-4121.00"]}, {"query": "NURSE", "expected": ["29-1141.00"]}],
    )
    with pytest.raises(
        InputFileError,
        match=r"^2 test queries are also train queries, nothing was run: .*test\.jsonl line 1, field 'query': 'welder' "
        r"is also a train query \(.*train\.jsonl line 1\).*test\.jsonl line 2, field 'query': 'NURSE'",
    ):
        run_lift(vector_world, ["occupations"], train=train, test=test, out_dir=out)
    assert not out.exists() or not any(out.iterdir())
