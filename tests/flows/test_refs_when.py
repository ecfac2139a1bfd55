from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.refs import ReferenceLookupError, ReferenceSyntaxError, find_refs, resolve, whole_ref
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
