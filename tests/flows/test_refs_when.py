from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.refs import (
    ReferenceLookupError,
    ReferenceSyntaxError,
    find_refs,
    resolve,
    whole_ref,
)
from flows.when import WhenSyntaxError, compile_when, evaluate_when

OUTPUTS = {"search": {"hits": [{"id": "53-7051.00", "score": 0.9}], "count": 1}, "a": {"text": "HI"}}
INPUTS = {"request": "forklift", "n": 3}


def test_whole_reference_keeps_its_type():
    assert resolve("$search.output.hits", INPUTS, OUTPUTS) == OUTPUTS["search"]["hits"]
    assert resolve("$inputs.n", INPUTS, OUTPUTS) == 3
    assert resolve("$search.output.hits.0.score", INPUTS, OUTPUTS) == 0.9


def test_reference_inside_text_is_rendered():
    assert resolve("find $inputs.request x$inputs.n", INPUTS, OUTPUTS) == "find forklift x3"
    assert resolve("ids: $search.output.count", INPUTS, OUTPUTS) == "ids: 1"
    assert resolve("cost $$5", INPUTS, OUTPUTS) == "cost $5"
    assert resolve({"q": ["$a.output.text", 1]}, INPUTS, OUTPUTS) == {"q": ["HI", 1]}


def test_lookup_errors_name_the_reference():
    with pytest.raises(ReferenceLookupError, match=r"\$a.output.nope: a.output has no 'nope'"):
        resolve("$a.output.nope", INPUTS, OUTPUTS)
    with pytest.raises(ReferenceLookupError, match="node 'zz' has no output"):
        resolve("$zz.output", INPUTS, OUTPUTS)


def test_bad_reference_syntax():
    with pytest.raises(ReferenceSyntaxError, match="use \\$a.output"):
        list(find_refs("$a.text"))
    with pytest.raises(ReferenceSyntaxError, match="names no input"):
        list(find_refs("$inputs"))


@given(st.text(alphabet=st.characters(blacklist_characters="$"), max_size=40))
def test_text_without_references_is_unchanged(text):
    assert resolve(text, INPUTS, OUTPUTS) == text
    assert whole_ref(text) is None


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("$search.output.count > 0", True),
        ("$search.output.count > 0 and $a.output.text == 'HI'", True),
        ("not $search.output.count", False),
        ("len($search.output.hits) == 1", True),
        ("'HI' in [$a.output.text, 'x']", True),
        ("$inputs.n >= 3 or false", True),
        ("$inputs.request != null", True),
    ],
)
def test_when_evaluates(expr, expected):
    assert evaluate_when(expr, INPUTS, OUTPUTS) is expected


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("$a.output.text ==", "not a valid condition"),
        ("open('/etc/passwd')", "only function allowed"),
        ("$a.output.text.upper()", "not a reference|Attribute is not allowed|only function allowed"),
        ("x > 1", "unknown name 'x'"),
        ("[i for i in $a.output.text]", "ListComp is not allowed"),
        ("$a.output.text if true else 1", "IfExp is not allowed"),
    ],
)
def test_when_rejects(expr, message):
    with pytest.raises(WhenSyntaxError, match=message):
        compile_when(expr)


def test_when_comparison_of_incompatible_types_is_clear():
    with pytest.raises(WhenSyntaxError, match="cannot compare"):
        evaluate_when("$a.output.text > 1", INPUTS, OUTPUTS)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        # a TypeError here crashed the whole run (HTTP 500), not the node with a message
        ("len($inputs.n) > 0", r"len\(\) of 3 \(int\): expected a list, text or object"),
        ("len(null) > 0", r"len\(\) of None \(NoneType\)"),
        ("-$a.output.text < 0", r"cannot negate 'HI' \(str\): expected a number"),
    ],
)
def test_when_len_and_negation_of_the_wrong_type_are_clear(expr, message):
    with pytest.raises(WhenSyntaxError, match=message):
        evaluate_when(expr, INPUTS, OUTPUTS)


# ------------------------------------------------------------------------------------ bounds (issue 9)
def test_input_budget_counts_whole_references_and_rendered_text():
    from flows.refs import InputTooLarge

    big = {"big": {"text": "x" * 1_000}}
    assert resolve({"a": "$big.output.text"}, INPUTS, big, max_chars=1_000) == {"a": "x" * 1_000}
    with pytest.raises(
        InputTooLarge,
        match=r"^with.b: the references in this node's input bring in more than the "
        r"limit of 1,500 characters \(over 2,000 so far; setting workflow_max_input_chars\)",
    ):
        resolve({"a": "$big.output.text", "b": "$big.output.text"}, INPUTS, big, max_chars=1_500)
    # a string repeating a reference stops at the first piece past the budget, naming the nested field
    with pytest.raises(InputTooLarge, match=r"^with.q.1: .* \(over 3,000 so far"):
        resolve({"q": ["ok", "$big.output.text " * 1_000]}, INPUTS, big, max_chars=2_500)
    # a whole reference to a list or dict is measured as JSON
    with pytest.raises(InputTooLarge, match="^with.hits:"):
        resolve({"hits": "$search.output"}, INPUTS, OUTPUTS, max_chars=10)
    assert issubclass(InputTooLarge, ReferenceLookupError)  # the runner fails the node with it


def test_input_budget_defaults_to_the_setting(monkeypatch, lh_home):
    from lakehouse.config import reset_settings

    monkeypatch.setenv("LH_WORKFLOW_MAX_INPUT_CHARS", "5")
    reset_settings()
    with pytest.raises(ReferenceLookupError, match="limit of 5 characters"):
        resolve("$a.output.text and $a.output.text and $a.output.text", INPUTS, OUTPUTS)


def test_rendering_a_self_containing_value_is_an_error_not_a_crash():
    loop: list = []
    loop.append(loop)
    with pytest.raises(ReferenceLookupError, match=r"\$a.output.v: cannot be rendered as text"):
        resolve("see $a.output.v", INPUTS, {"a": {"v": loop}})


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("not " * 100 + "$a.output.text", "nested more than 64 levels"),
        ("not " * 50_000 + "true", "200,004 characters long, more than the limit of 1,000"),
        ("-" * 500 + "1", "nested more than 64 levels"),
        ("(" * 300 + "1" + ")" * 300, "too many nested parentheses"),
        ("$a.output.text == 'x'\x00", "null bytes"),
    ],
)
def test_when_is_bounded(expr, message):
    with pytest.raises(WhenSyntaxError, match=message):
        compile_when(expr)
    with pytest.raises(WhenSyntaxError, match=message):
        evaluate_when(expr, INPUTS, OUTPUTS)


def test_when_at_a_reasonable_depth_still_works():
    assert evaluate_when("not " * 20 + "$search.output.count", INPUTS, OUTPUTS) is True
