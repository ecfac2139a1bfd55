"""Property: whatever YAML text it is given, the loader only ever raises WorkflowError; workflows
built from valid values of every key (issue 12's too) load."""

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
        "until",
        "max_iterations",
        "on_limit",
        "timeout_s",
        "on_reject",
        "properties",
        "items",
        "additionalProperties",
    ]
)
MODES = st.sampled_from(
    ["fixture.echo", "fixture.upper", "fixture.sleep", "fixture.fail", "fixture.require_file", "llm.chat", "nope"]
)
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
        "$item",
        "$item.text",
        "$index",
        "$index.x",
        "$iteration",
        "$previous.value",
        "$a.output.0",
        "$a.output.verdict.score",
        "$inputs.words",
        "$a.output.value > 1 and $iteration < 3",
    ]
)
RULES = st.sampled_from(["all_success", "all_done", "one_success", "none_failed", "all_sucess", "", "ALL_DONE"])
WORKFLOW_NAMES = st.sampled_from(["hello-lakehouse", "fixture-branches", "wf", "nope", "../x.yaml", "/etc/passwd", ""])
SCHEMAS = st.sampled_from(
    [
        {"type": "object"},
        {"type": "object", "properties": {"text": {"type": "string"}, "verdict": {"type": "object"}}},
        {"type": "array", "items": {"type": "object", "properties": {"text": {}}}},
        {"type": "objekt"},
        {"properties": {"a": {"pattern": "("}}},
        {"required": "yes"},
        {"additionalProperties": False, "properties": {"value": {}}},
        True,
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
LOOP = st.one_of(
    st.fixed_dictionaries(
        {"until": REF_TEXT, "max_iterations": st.integers(-1, 5)},
        optional={"on_limit": st.sampled_from(["fail", "complete", "stop"])},
    ),
    VALUES,
)
APPROVAL = st.one_of(
    st.fixed_dictionaries(
        {"message": st.sampled_from(["ok?", "", "publish $a.output.text?"])},
        optional={
            "timeout_s": st.one_of(st.integers(-1, 10), SCALARS),
            "on_reject": st.lists(st.sampled_from(["a", "b", "c", "z"]), max_size=2),
        },
    ),
    VALUES,
)
NODE = st.fixed_dictionaries(
    {"id": st.sampled_from(["a", "b", "c", "a b", "", "item", "inputs"])},
    optional={
        "mode": MODES,
        "with": VALUES,
        "depends_on": st.lists(st.sampled_from(["a", "b", "c", "z"]), max_size=3),
        "when": REF_TEXT,
        "prompt": REF_TEXT,
        "retry": VALUES,
        "timeout_s": SCALARS,
        "junk": SCALARS,
        "trigger_rule": st.one_of(RULES, SCALARS),
        "for_each": st.one_of(REF_TEXT, SCALARS),
        "max_parallel": st.one_of(st.integers(-1, 10), SCALARS),
        "allow_item_failures": st.one_of(st.booleans(), SCALARS),
        "loop": LOOP,
        "approval": APPROVAL,
        "workflow": st.one_of(WORKFLOW_NAMES, SCALARS),
        "output_schema": st.one_of(SCHEMAS, VALUES),
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
# Enough declared inputs that `$inputs.a`/`$inputs.words` references sometimes resolve.
DECLARED = st.fixed_dictionaries({}, optional={"a": st.just({"type": "string"}), "words": st.just({"type": "array"})})


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


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(NODE, min_size=1, max_size=4), DECLARED)
def test_nodes_with_the_new_keys_raise_only_workflow_error(nodes, declared):
    _check(yaml.safe_dump({"name": "wf", "inputs": declared, "nodes": nodes}, allow_unicode=True))


# ------------------------------------------------------------------------------------ valid workflows
# Each step is a node that depends on the one before ("prev") and uses one of the new keys validly.
_STEPS = {
    "fan": {"mode": "fixture.upper", "for_each": "$inputs.words", "with": {"text": "$index: $item"}},
    "fan_prev": {"mode": "fixture.echo", "for_each": "$prev.output", "with": {"value": "$item"}},
    "loop": {
        "mode": "fixture.echo",
        "loop": {"until": "$self.output.value.n >= 2", "max_iterations": 3},
        "with": {"value": {"n": "$iteration", "was": "$previous.value"}},
    },
    "gate": {"approval": {"message": "go on?", "timeout_s": 5}},
    "sub": {"workflow": "hello-lakehouse", "with": {"text": "$inputs.a"}},
    "prompt": {
        "prompt": "rate $inputs.a",
        "model": "openai/gpt-4o-mini",
        "output_schema": {"type": "object", "properties": {"score": {"type": "number"}}},
    },
    "echo": {"mode": "fixture.echo", "with": {"value": "$prev.output"}},
}


@st.composite
def valid_workflows(draw):
    kinds = draw(st.lists(st.sampled_from(sorted(_STEPS)), min_size=1, max_size=6))
    nodes = []
    for i, kind in enumerate(kinds):
        template = yaml.safe_dump(_STEPS[kind])
        if i == 0 and "$prev." in template:  # the first node has nothing before it
            template = yaml.safe_dump({"mode": "fixture.echo", "with": {"value": [1, 2]}})
        node = yaml.safe_load(template.replace("$self.", f"$n{i}.").replace("$prev.", f"$n{i - 1}."))
        node["id"] = f"n{i}"
        if i:
            node["depends_on"] = [f"n{i - 1}"]
            node["trigger_rule"] = draw(st.sampled_from(["all_success", "all_done", "one_success", "none_failed"]))
        if "for_each" in node:
            if draw(st.booleans()):
                node["max_parallel"] = draw(st.integers(1, 8))
            node["allow_item_failures"] = draw(st.booleans())
        if kind == "gate" and i + 1 < len(kinds) and kinds[i + 1] != "gate":
            node["approval"]["on_reject"] = [f"n{i + 1}"]
        nodes.append(node)
    return {"name": "wf", "inputs": {"a": {"type": "string"}, "words": {"type": "array"}}, "nodes": nodes}


def _fan_over_non_list(doc) -> bool:
    """`fan_prev` after a node whose output is not a list: the loader must refuse it."""
    nodes = doc["nodes"]
    for before, node in zip(nodes, nodes[1:], strict=False):
        if node.get("for_each", "").startswith("$n") and "for_each" not in before:
            return True
    return False


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_workflows())
def test_workflows_using_the_new_keys_validly_load(doc):
    text = yaml.safe_dump(doc, allow_unicode=True)
    if _fan_over_non_list(doc):
        with pytest.raises(WorkflowError, match="is not a list"):
            load_workflow_text(text, "prop.yaml", inputs={"a": "x", "words": ["p", "q"]})
    else:
        loaded = load_workflow_text(text, "prop.yaml", inputs={"a": "x", "words": ["p", "q"]})
        assert list(loaded.nodes) == [n["id"] for n in doc["nodes"]]


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
