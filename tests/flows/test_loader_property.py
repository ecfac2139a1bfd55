"""Property: whatever YAML text it is given, the loader only ever raises WorkflowError."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.loader import LoadedWorkflow, WorkflowError, load_workflow_text
from flows.spec import NODE_KEYS, WORKFLOW_KEYS

KEYS = st.sampled_from(
    [
        *WORKFLOW_KEYS,
        *NODE_KEYS,
        "type",
        "required",
        "default",
        "max_attempts",
        "delay_s",
        "value",
        "text",
        "seconds",
        "message",
        "x",
    ]
)
MODES = st.sampled_from(["fixture.echo", "fixture.upper", "fixture.sleep", "fixture.fail", "llm.chat", "nope"])
REF_TEXT = st.sampled_from(
    [
        "$inputs.a",
        "$a.output",
        "$a.output.text",
        "$b.output.value.0",
        "$x.y",
        "$$",
        "$",
        "len($a.output.text) > 0",
        "$a.output.text == 'x' and",
        "a b",
        "1 +",
    ]
)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=12), MODES, REF_TEXT
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.one_of(KEYS, st.text(max_size=5)), inner, max_size=5)
    ),
    max_leaves=25,
)
NODE = st.fixed_dictionaries(
    {"id": st.sampled_from(["a", "b", "c", "a b", ""])},
    optional={
        "mode": MODES,
        "with": VALUES,
        "depends_on": st.lists(st.sampled_from(["a", "b", "c", "z"]), max_size=3),
        "when": REF_TEXT,
        "prompt": REF_TEXT,
        "retry": VALUES,
        "timeout_s": SCALARS,
        "junk": SCALARS,
    },
)
DOC = st.fixed_dictionaries(
    {"name": st.one_of(st.just("wf"), SCALARS)},
    optional={
        "nodes": st.one_of(st.lists(NODE, max_size=4), VALUES),
        "inputs": VALUES,
        "model": SCALARS,
        "description": SCALARS,
    },
)


def _check(text: str) -> None:
    try:
        result = load_workflow_text(text, "prop.yaml", inputs={})
    except WorkflowError as exc:
        assert exc.issues and all(str(i).startswith("prop.yaml:") for i in exc.issues)
    else:
        assert isinstance(result, LoadedWorkflow)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOC)
def test_structured_documents_raise_only_workflow_error(doc):
    _check(yaml.safe_dump(doc, allow_unicode=True))


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_any_yaml_value_raises_only_workflow_error(value):
    _check(yaml.safe_dump(value, allow_unicode=True))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("name:nodes-{}[]!&*|>'\"#%@`\n\t :$.,?ab12")), max_size=120))
def test_arbitrary_text_raises_only_workflow_error(text):
    _check(text)


# ------------------------------------------------------------------------------------ bounds (issue 9)
def _nested(depth: int, style: str) -> str:
    """A `with.value` nested `depth` levels (the file around it adds four: top, nodes, node, with)."""
    head = "name: wf\nnodes:\n  - id: a\n    mode: fixture.echo\n    with:\n      value:"
    if style == "flow-list":
        return f"{head} {'[' * depth}1{']' * depth}\n"
    if style == "flow-map":
        return f"{head} {'{k: ' * depth}1{'}' * depth}\n"
    if style == "block-list":
        return f"{head}\n        {'- ' * depth}1\n"
    return head + "\n" + "".join(" " * (8 + 2 * i) + "k:\n" for i in range(depth)) + " " * (8 + 2 * depth) + "1\n"


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 150), st.sampled_from(["flow-list", "flow-map", "block-list", "block-map"]))
def test_nesting_is_refused_exactly_past_the_depth_limit(depth, style):
    text = _nested(depth, style)
    if depth + 4 <= 64:
        assert load_workflow_text(text, "prop.yaml").name == "wf"
    else:
        with pytest.raises(WorkflowError, match=r"^prop.yaml:-: YAML nested deeper than 64 levels at line \d+") as info:
            load_workflow_text(text, "prop.yaml")
        assert len(info.value.issues) == 1


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12))
def test_alias_expansion_is_refused_past_the_value_limit(levels, width):
    lines = [
        "name: wf",
        "nodes:",
        "  - id: a",
        "    mode: fixture.echo",
        "    with:",
        "      value:",
        "        - &l0 lol",
    ]
    lines += [f"        - &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels + 1)]
    text = "\n".join(lines) + "\n"
    aliases = levels * width
    # values: the `with` list itself, then each anchor stands for 1 + width × the one before it
    expanded, size = 1, 1
    for _ in range(levels + 1):
        expanded += size
        size = 1 + width * size
    try:
        loaded = load_workflow_text(text, "prop.yaml")
    except WorkflowError as exc:
        assert len(exc.issues) == 1
        too_many_aliases = "uses more than 100 aliases" in str(exc)
        too_many_values = "holds more than 100,000 values, aliases expanded" in str(exc)
        assert too_many_aliases or too_many_values, str(exc)
        assert (aliases > 100) >= too_many_aliases and (expanded > 100_000) >= too_many_values  # the first one hit
        assert aliases > 100 or expanded > 100_000
    else:
        assert aliases <= 100 and expanded <= 100_000
        assert len(loaded.nodes["a"].with_["value"]) == levels + 1
