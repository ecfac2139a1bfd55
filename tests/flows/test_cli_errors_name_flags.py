"""A value a mode refuses is named by the flag the user typed (`--score`), not by the mode's field
(`field 'score'`); a field qualified by a file's row or line names that file's column and stays."""

from __future__ import annotations

import pytest

from flows.cli.common import command_flags, name_flags
from tests.fixtures import ratings
from tests.fixtures.cli import invoke_cli
from tests.fixtures.ratings import logs

rating_home = ratings.rating_home  # the fixture: a writable copy of the health home
TRAIN = "examples/lift/titles_train.jsonl"
TEST = "examples/lift/titles_test.jsonl"


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["playbook", "record", "--query", "q", "--answer", "53-7021.00", "--corpus", "occupations", "--score", "2"],
            "error: --score: Input should be less than or equal to 1",
        ),
        (
            ["lift", "run", "--train", TRAIN, "--test", TEST, "--corpus", "occupations", "--min-similarity", "1"],
            "error: --min-similarity: Input should be less than 1",
        ),
        (
            ["lift", "run", "--train", TRAIN, "--corpus", "occupations"],
            "error: the paraphrase pass needs both --train and --test",
        ),
        # the mode's field `id` is filled from whichever of --good / --bad was typed
        (["rate", "welder", "--corpus", "occupations", "--bad", " "], "error: --bad: must not be blank"),
    ],
)
def test_a_refused_value_names_its_flag(lh_home, args, message):
    assert invoke_cli(*args, code=1).stderr.strip().splitlines()[-1] == message


def test_a_rated_id_the_corpus_lacks_is_named_by_the_flag_that_gave_it(rating_home):
    result = invoke_cli("rate", "night nurse", "--corpus", "health", "--good", "NOPE", code=1)
    assert result.stderr.strip().splitlines()[-1] == (
        "error: rating rejected, nothing stored: --good: corpus 'health' has no id 'NOPE'"
    )
    assert logs(rating_home) == (b"", b"")


def test_a_field_located_in_a_file_keeps_its_name():
    flags = {"rating_id": "--rating-id", "score": "--score"}
    assert name_flags("row 2, field 'rating_id': 'q1' also names row 1", flags) == (
        "row 2, field 'rating_id': 'q1' also names row 1"
    )
    assert name_flags("field 'rating_id': 'q1' is taken; field 'nested.x': bad", flags) == (
        "--rating-id: 'q1' is taken; field 'nested.x': bad"
    )


def test_each_option_maps_to_its_longest_flag():
    import typer.main

    from flows.cli import app

    record = typer.main.get_command(app).commands["rate"]
    flags = command_flags(record)
    assert flags["rating_id"] == "--rating-id" and "query" not in flags  # QUERY is an argument
