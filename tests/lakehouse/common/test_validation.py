"""The one validation-error formatter: a bad value reads the same from a record file, a playbook
entry and a mode call."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from lakehouse.common.recordfile import InputFileError, read_records
from lakehouse.common.validation import format_validation_error, validation_problems


class Inner(BaseModel):
    score: float


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str
    inner: Inner | None = None

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


def _error(data) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        Entry.model_validate(data)
    return info.value


def test_one_problem_names_the_field():
    assert format_validation_error(_error({})) == "field 'query': Field required"


def test_every_problem_with_where_and_a_nested_path():
    text = format_validation_error(_error({"query": "q", "inner": {"score": "x"}, "colour": 1}), "f.jsonl line 2")
    assert text == (
        "f.jsonl line 2, field 'inner.score': Input should be a valid number, unable to parse string as a number; "
        "f.jsonl line 2, field 'colour': Extra inputs are not permitted"
    )


def test_a_validators_message_loses_the_value_error_prefix():
    assert format_validation_error(_error({"query": " "})) == "field 'query': must not be blank"


def test_a_problem_with_the_whole_object_has_no_field():
    with pytest.raises(ValidationError) as info:
        Entry.model_validate("text")
    assert (
        format_validation_error(info.value, "line 1")
        == "line 1: Input should be a valid dictionary or instance of Entry"
    )


def test_problems_as_pairs():
    with pytest.raises(ValidationError) as info:
        Inner.model_validate({"score": None})
    assert validation_problems(info.value) == [("score", "Input should be a valid number")]


def test_record_files_use_it(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_text('{"query": "ok"}\n{"query": "  "}\n')
    with pytest.raises(InputFileError, match=rf"^{path} line 2, field 'query': must not be blank$"):
        read_records(path, Entry)
