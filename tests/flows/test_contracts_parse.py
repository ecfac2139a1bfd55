"""Output contracts of prompt nodes, without a model: what `parse_answer` accepts, refuses and says."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from flows.contracts import MAX_ANSWER_CHARS, MAX_DEPTH, parse_answer, schema_instruction, schema_problem
from flows.errors import NodeFailed, OutputContractError
from lakehouse.errors import ErrorKind

SCORES = {
    "type": "object",
    "properties": {
        "items": {
            "type": "array",
            "items": {"type": "object", "properties": {"score": {"type": "number"}}, "required": ["score"]},
        }
    },
    "required": ["items"],
}


def test_the_instruction_asks_for_json_only_and_carries_the_schema_compactly():
    text = schema_instruction(SCORES)
    assert text.startswith("Answer with one JSON value only, no prose")
    assert json.dumps(SCORES, separators=(",", ":")) in text
    assert "\n" not in text and ": " not in text.split("JSON Schema: ", 1)[1]


@pytest.mark.parametrize(
    "answer",
    [
        '{"items": [{"score": 0.5}]}',
        '  \n{"items": [{"score": 0.5}]}\n\n',
        '```json\n{"items": [{"score": 0.5}]}\n```',
        '```JSON\n{"items": [{"score": 0.5}]}\n```\n',
        '```\n{"items": [{"score": 0.5}]}\n```',
        '```json {"items": [{"score": 0.5}]} ```',
    ],
)
def test_a_matching_answer_is_parsed_with_or_without_one_fence(answer):
    assert parse_answer(answer, SCORES) == {"items": [{"score": 0.5}]}


def test_prose_is_not_json_and_the_message_quotes_its_start():
    with pytest.raises(
        OutputContractError,
        match=r"^the answer is not JSON \(Expecting value at line 1 column 1\); "
        r"it starts: 'Sure! Here is your JSON",
    ):
        parse_answer('Sure! Here is your JSON: {"items": []}', SCORES)


def test_a_fence_inside_prose_is_not_stripped():
    with pytest.raises(OutputContractError, match="not JSON"):
        parse_answer('Here you go:\n```json\n{"items": []}\n```', SCORES)


def test_a_schema_violation_names_the_json_path_and_the_problem():
    with pytest.raises(
        OutputContractError,
        match=r"^the answer does not match output_schema at \$\.items\[1\]\.score: 'high' is not of type 'number'$",
    ):
        parse_answer('{"items": [{"score": 1}, {"score": "high"}]}', SCORES)


def test_a_missing_property_is_reported_at_its_parent():
    with pytest.raises(OutputContractError, match=r"at \$: 'items' is a required property$"):
        parse_answer("{}", SCORES)


def test_an_empty_answer_says_so():
    with pytest.raises(OutputContractError, match="^the answer is empty, not JSON$"):
        parse_answer(" ```json\n\n``` ", SCORES)


def test_a_syntax_error_deep_in_a_long_answer_quotes_the_start_and_the_spot_only():
    answer = '{"items": [' + ", ".join(['{"score": 1}'] * 500) + ', {"score": 2,}]}'
    with pytest.raises(OutputContractError) as caught:
        parse_answer(answer, SCORES)
    message = str(caught.value)
    assert message.startswith("the answer is not JSON (Expecting property name enclosed in double quotes at line 1")
    assert "; near the error: '…" in message and '"score": 2,}' in message
    assert len(message) < 300, "the message must not carry the answer"


def test_a_long_offending_value_is_shortened_in_the_message():
    secret_tail = "the-end-of-a-long-string"
    answer = json.dumps({"items": "x" * 5_000 + secret_tail})
    with pytest.raises(OutputContractError, match=r"at \$\.items: 'xxxx.*… is not of type 'array'$") as caught:
        parse_answer(answer, SCORES)
    assert secret_tail not in str(caught.value) and len(str(caught.value)) < 300


def test_a_huge_answer_is_refused_before_parsing():
    answer = "[" + "1," * (MAX_ANSWER_CHARS // 2) + "1]"
    with pytest.raises(OutputContractError, match=r"^the answer is 1,000,00\d characters, above the 1,000,000"):
        parse_answer(answer, {"type": "array"})


@pytest.mark.parametrize("answer", ["[" * 100_000, "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), '{"a":' * 5_000])
def test_deeply_nested_answers_are_a_contract_error_not_a_crash(answer):
    with pytest.raises(OutputContractError, match=f"^the answer nests deeper than {MAX_DEPTH} levels; it starts: '"):
        parse_answer(answer, {})


def test_nesting_up_to_the_limit_is_fine_even_under_a_recursive_schema():
    nested = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    recursive = {"type": "array", "items": {"$ref": "#"}}
    value = parse_answer(nested, recursive)
    for _ in range(MAX_DEPTH - 1):
        value = value[0]
    assert value == []


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("NaN", "NaN is not a JSON value"),
        ('{"x": -Infinity}', "-Infinity is not a JSON value"),
        ("[1e999]", "the number 1e999 is out of range"),
        ("9" * 5_000, "an integer has 5,000 digits, over 4,300"),
    ],
)
def test_values_json_cannot_say_are_refused(answer, why):
    with pytest.raises(OutputContractError, match=rf"^the answer is not JSON \({why}\); it starts: '"):
        parse_answer(answer, {})


def test_an_invalid_schema_is_named_as_such():
    assert schema_problem(SCORES) is None
    assert schema_problem({"type": "nope"}) == (
        "output_schema is not a valid JSON Schema at $.type: 'nope' is not valid under any of the given schemas"
    )
    assert schema_problem(["not", "a", "schema"]) == "output_schema must be a JSON Schema object, not list"
    with pytest.raises(OutputContractError, match=r"^output_schema is not a valid JSON Schema at \$\.minimum"):
        parse_answer("1", {"minimum": "zero"})


def test_a_contract_error_is_a_node_failure_the_user_can_fix():
    assert issubclass(OutputContractError, NodeFailed)
    assert OutputContractError.kind is ErrorKind.USER


def test_equal_schemas_share_one_checked_validator():
    from flows.contracts import _validator

    _validator.cache_clear()
    parse_answer('{"a": 1, "b": "x"}', {"properties": {"a": {"type": "integer"}, "b": {"type": "string"}}})
    parse_answer('{"a": 2, "b": "y"}', {"properties": {"b": {"type": "string"}, "a": {"type": "integer"}}})
    assert _validator.cache_info().misses == 1 and _validator.cache_info().hits >= 1


# --- properties ------------------------------------------------------------------------------------

_LEAVES: list[dict[str, Any]] = [
    {"type": "string"},
    {"type": "integer"},
    {"type": "number"},
    {"type": "boolean"},
    {"type": "null"},
    {},
]


def _schemas() -> st.SearchStrategy[dict[str, Any]]:
    leaves = st.one_of(
        st.sampled_from(_LEAVES),
        st.lists(st.one_of(st.integers(), st.text(max_size=8)), min_size=1, max_size=4, unique=True).map(
            lambda values: {"enum": values}
        ),
    )

    def nest(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
        arrays = children.map(lambda items: {"type": "array", "items": items})
        objects = st.dictionaries(st.text(max_size=8), children, max_size=4).flatmap(
            lambda props: (
                st.lists(st.sampled_from(sorted(props)), unique=True).map(
                    lambda required: {"type": "object", "properties": props, "required": required}
                )
                if props
                else st.just({"type": "object", "properties": {}})
            )
        )
        return st.one_of(arrays, objects)

    return st.recursive(leaves, nest, max_leaves=8)


_ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _values(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values that match one of the schemas `_schemas` makes."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        return st.lists(_values(schema["items"]), max_size=3)
    if kind == "object":
        props, required = schema["properties"], set(schema.get("required", []))
        optional = sorted(set(props) - required)
        return (
            st.lists(st.sampled_from(optional), unique=True).flatmap(
                lambda chosen: st.fixed_dictionaries({k: _values(props[k]) for k in sorted(required) + chosen})
            )
            if optional
            else st.fixed_dictionaries({k: _values(props[k]) for k in sorted(required)})
        )
    if kind is None:  # `{}`: any JSON value
        return _ANY_JSON
    return {
        "string": st.text(),
        "integer": st.integers(),
        "number": st.integers() | st.floats(allow_nan=False, allow_infinity=False),
        "boolean": st.booleans(),
        "null": st.none(),
    }.get(kind, _ANY_JSON)


def _render(value: Any, data: st.DataObject) -> str:
    """One way a model might write `value`: compact or indented, escaped or not, fenced or not."""
    text = json.dumps(value, indent=data.draw(st.sampled_from([None, 2])), ensure_ascii=data.draw(st.booleans()))
    fence = data.draw(st.sampled_from(["{}", "```json\n{}\n```", "```\n{}\n```", "```json {} ```"]))
    text = fence.format(text)
    pad = data.draw(st.sampled_from(["", " ", "\n", "\n\t "]))
    return pad + text + pad


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=_schemas(), data=st.data())
def test_a_matching_value_round_trips_fenced_or_not(schema, data):
    value = data.draw(_values(schema))
    assert Draft202012Validator(schema).is_valid(value), "the test's own generator is wrong"
    assert parse_answer(_render(value, data), schema) == value


@settings(max_examples=150, deadline=None)
@given(schema=_schemas(), value=_ANY_JSON)
def test_any_json_value_is_either_accepted_as_valid_or_refused_with_a_path(schema, value):
    answer = json.dumps(value)
    if Draft202012Validator(schema).is_valid(value):
        assert parse_answer(answer, schema) == value
    else:
        with pytest.raises(OutputContractError, match=r"^the answer does not match output_schema at \$"):
            parse_answer(answer, schema)


@settings(max_examples=200, deadline=None)
@given(answer=st.text(max_size=400) | st.text(alphabet='[]{}",:0123456789.eE+-truefalsn \n`', max_size=400))
def test_any_text_gives_a_value_or_a_short_contract_error(answer):
    try:
        parse_answer(answer, {"type": "array"})
    except OutputContractError as exc:
        assert len(str(exc)) < 400, "a contract error must not carry the whole answer"
