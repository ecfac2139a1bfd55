"""Property: whatever YAML text it is given, the loader only ever raises WorkflowError."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.loader import LoadedWorkflow, WorkflowError, load_workflow_text
from flows.spec import NODE_KEYS, WORKFLOW_KEYS

KEYS = st.sampled_from([*WORKFLOW_KEYS, *NODE_KEYS, "type", "required", "default", "max_attempts", "delay_s",
                        "value", "text", "seconds", "message", "x"])
MODES = st.sampled_from(["fixture.echo", "fixture.upper", "fixture.sleep", "fixture.fail", "llm.chat", "nope"])
REF_TEXT = st.sampled_from(["$inputs.a", "$a.output", "$a.output.text", "$b.output.value.0", "$x.y", "$$", "$",
                            "len($a.output.text) > 0", "$a.output.text == 'x' and", "a b", "1 +"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True),
                    st.text(max_size=12), MODES, REF_TEXT)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.one_of(KEYS, st.text(max_size=5)), inner, max_size=5)),
                      max_leaves=25)
NODE = st.fixed_dictionaries(
    {"id": st.sampled_from(["a", "b", "c", "a b", ""])},
    optional={"mode": MODES, "with": VALUES, "depends_on": st.lists(st.sampled_from(["a", "b", "c", "z"]), max_size=3),
              "when": REF_TEXT, "prompt": REF_TEXT, "retry": VALUES, "timeout_s": SCALARS, "junk": SCALARS},
)
DOC = st.fixed_dictionaries(
    {"name": st.one_of(st.just("wf"), SCALARS)},
    optional={"nodes": st.one_of(st.lists(NODE, max_size=4), VALUES), "inputs": VALUES, "model": SCALARS,
              "description": SCALARS},
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
