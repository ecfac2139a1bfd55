"""The checks of the node kinds and keys of issue 12 (for_each, loop, approval, workflow,
trigger_rule, output_schema) that need more than one scenario file: a valid workflow using every
key, sub-workflows saved in LH_HOME/workflows, and what references into each kind may name."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.loader import WorkflowError, load_workflow, load_workflow_text
from flows.shapes import ListShape, PyShape, SchemaShape
from flows.spec import ApprovalOutcome

EVERY_KEY = """
name: every-key
inputs:
  words: {type: array, default: [lake, house]}
  marker: {type: string, default: /tmp/marker}
nodes:
  - id: start
    mode: fixture.echo
    with: {value: $inputs.words}
  - id: shout
    mode: fixture.upper
    depends_on: [start]
    for_each: $start.output.value
    max_parallel: 2
    allow_item_failures: true
    when: "$index < 10 and len($item) > 0"
    with: {text: "$index: $item"}
  - id: again
    mode: fixture.echo
    depends_on: [shout]
    for_each: $shout.output
    with: {value: $item.text}
  - id: poll
    mode: fixture.echo
    loop: {until: "$poll.output.value.n >= 3 or $iteration > 5", max_iterations: 10, on_limit: complete}
    with: {value: {n: $iteration, before: $previous.value}}
  - id: judge
    prompt: "Rate $shout.output.0.text (round $iteration, last $previous.verdict.score)"
    model: openai/gpt-4o-mini
    loop: {until: "$judge.output.verdict.score > 0.5", max_iterations: 3}
    depends_on: [shout]
    output_schema:
      type: object
      properties:
        verdict:
          type: object
          properties: {score: {type: number}, why: {type: string}}
          required: [score]
        tags: {type: array, items: {type: object, properties: {name: {type: string}}}}
      required: [verdict]
  - id: gate
    depends_on: [judge]
    when: "$judge.output.verdict.score > 0.1"
    approval: {message: "Publish $judge.output.verdict.why?", timeout_s: 60, on_reject: [notify]}
  - id: notify
    mode: fixture.echo
    depends_on: [gate]
    trigger_rule: all_done
    with: {value: "rejected by $gate.output.by: $gate.output.reason ($gate.output.approved)"}
  - id: hello
    workflow: hello-lakehouse
    depends_on: [gate]
    with: {text: "$judge.output.verdict.why"}
  - id: file
    mode: fixture.require_file
    depends_on: [hello]
    trigger_rule: none_failed
    with: {path: $inputs.marker}
  - id: finish
    mode: fixture.echo
    depends_on: [hello, file, again, poll]
    trigger_rule: one_success
    on_upstream_skip: run
    with:
      value:
        child: $hello.output.shout.text
        joined: $hello.output.join.value
        size: $file.output.size
        tags: $judge.output.tags.0.name
        items: $again.output.1.value
"""


@pytest.fixture
def saved(lh_home: Path):
    """Write workflows into LH_HOME/workflows (the user's saved workflows)."""
    folder = lh_home / "workflows"
    folder.mkdir(parents=True, exist_ok=True)

    def write(name: str, text: str) -> Path:
        path = folder / f"{name}.yaml"
        path.write_text(text)
        return path

    return write


def _issues(text: str, source: str = "wf.yaml") -> str:
    with pytest.raises(WorkflowError) as info:
        load_workflow_text(text, source)
    assert all(str(issue).startswith(f"{source}:") for issue in info.value.issues)
    return str(info.value)


# ------------------------------------------------------------------------------------ valid
def test_a_workflow_using_every_new_key_loads(lh_home: Path):
    loaded = load_workflow_text(EVERY_KEY, "every-key.yaml")
    assert loaded.nodes["gate"].kind == "approval"
    assert loaded.nodes["hello"].kind == "workflow"
    assert loaded.nodes["judge"].kind == "prompt"
    assert set(loaded.subworkflows) == {"hello-lakehouse"}
    assert loaded.subworkflows["hello-lakehouse"].name == "hello-lakehouse"
    assert isinstance(loaded.shapes["shout"], ListShape)
    assert loaded.shapes["gate"] == PyShape(ApprovalOutcome)
    assert isinstance(loaded.shapes["judge"], SchemaShape)
    # A workflow node's `with` are the child's inputs; an approval node has none: no mode input.
    assert loaded.payload("hello") == {"text": "$judge.output.verdict.why"}
    assert loaded.payload("gate") == {}


def test_shipped_workflows_stay_valid(lh_home: Path):
    shipped = sorted((Path(__file__).parents[2] / "workflows").glob("*.yaml"))
    assert shipped
    for path in shipped:
        load_workflow(path)  # with no model tier configured (the README's `workflow validate workflows/*.yaml`)


def test_validate_cli_accepts_every_key(lh_home: Path, tmp_path: Path):
    path = tmp_path / "every-key.yaml"
    path.write_text(EVERY_KEY)
    result = CliRunner().invoke(app, ["workflow", "validate", str(path)])
    assert result.exit_code == 0, result.stderr


# ------------------------------------------------------------------------------------ kinds, ids, rules
def test_every_problem_of_the_new_keys_is_reported_together(lh_home: Path):
    text = _issues(
        """
name: many
nodes:
  - {id: index, mode: fixture.echo, workflow: hello-lakehouse}
  - {id: b, mode: fixture.echo, trigger_rule: none_faild, max_parallel: 3, with: {value: $item}}
  - {id: c, approval: {message: ok, on_reject: [b]}, with: {value: 1}}
  - {id: d, mode: fixture.echo, output_schema: {type: object}, loop: {until: "$d.output.valu", max_iterations: 2}}
"""
    )
    for fragment in (
        "wf.yaml:index: id: node id 'index' is reserved",
        "wf.yaml:index: workflow: give exactly one of",
        "wf.yaml:b: trigger_rule: unknown value 'none_faild'; did you mean 'none_failed'?",
        "wf.yaml:b: max_parallel: `max_parallel` only applies to a node with `for_each`",
        "wf.yaml:b: with: $item: $item is only defined in a node with for_each",
        "wf.yaml:c: with: an approval node takes no `with:`",
        "wf.yaml:c: approval.on_reject: node 'b' must list 'c' in its depends_on",
        "wf.yaml:d: output_schema: only prompt nodes take an output_schema (this is a mode node)",
        "wf.yaml:d: loop.until: $d.output.valu: d.output has no field 'valu'; did you mean 'value'?",
    ):
        assert fragment in text, text


def test_other_literal_keys_suggest_too(lh_home: Path):
    text = _issues(
        "name: wf\nnodes:\n"
        "  - {id: a, mode: fixture.echo, on_upstream_skip: runn}\n"
        "  - {id: b, mode: fixture.echo, loop: {until: 'true', max_iterations: 2, on_limit: completed}}\n"
    )
    assert "a: on_upstream_skip: unknown value 'runn'; did you mean 'run'? (one of: skip, run)" in text
    assert "b: loop.on_limit: unknown value 'completed'; did you mean 'complete'? (one of: fail, complete)" in text


def test_a_kind_key_with_a_bad_value_is_not_also_missing(lh_home: Path):
    text = _issues("name: wf\nnodes:\n  - {id: a, approval: {message: ''}}\n")
    assert "approval.message" in text
    assert "needs one of" not in text


# ------------------------------------------------------------------------------------ scopes
ECHO = "{id: a, mode: fixture.echo, "
LOOP = "loop: {until: 'true', max_iterations: 2}"


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (ECHO + "with: {value: $index}}", r"a: with: \$index: \$index is only defined in a node with for_each"),
        (ECHO + "when: '$item > 1', with: {value: 1}}", r"a: when: \$item: \$item is only"),
        (
            "{id: a, prompt: 'round $iteration', model: openai/x}",
            r"a: with: \$iteration: \$iteration is only defined in a node with loop",
        ),
        (
            ECHO + LOOP + ", when: '$iteration > 1'}",
            r"a: when: \$iteration: \$iteration is only defined in a node with loop \(in with, prompt and loop.until\)",
        ),
        (
            ECHO + "loop: {until: '$item', max_iterations: 2}}",
            r"a: loop.until: \$item: \$item is only defined in a node with for_each",
        ),
        (
            "{id: a, mode: fixture.upper, " + LOOP + ", with: {text: $previous.txt}}",
            r"a: with: \$previous.txt: \$previous has no field 'txt'; did you mean 'text'\?",
        ),
        (
            ECHO + "for_each: $item, with: {value: 1}}",
            r"a: for_each: for_each takes \$NODE.output… or \$inputs.NAME, not \$item",
        ),
        (ECHO + "for_each: $inputs.nope}", r"a: for_each: \$inputs.nope refers to undeclared input 'nope'"),
        (ECHO + "for_each: $zz.output}", r"a: for_each: \$zz.output refers to unknown node 'zz'"),
        (ECHO + "for_each: $a.output}", r"a: for_each: \$a.output refers to the node itself"),
        (ECHO + "for_each: '$a.text'}", r"a: for_each: bad reference: '\$a.text' is not a reference"),
    ],
)
def test_scope_names_and_for_each_sources(lh_home: Path, node: str, expected: str):
    with pytest.raises(WorkflowError, match=expected):
        load_workflow_text(f"name: wf\nnodes:\n  - {node}\n", "wf.yaml")


def test_a_fan_out_output_is_a_list_of_item_outputs(lh_home: Path):
    base = (
        "name: wf\ninputs:\n  xs: {type: array, default: [a]}\nnodes:\n"
        "  - {id: fan, mode: fixture.upper, for_each: $inputs.xs, with: {text: $item}}\n"
    )
    ok = base + "  - {id: b, mode: fixture.echo, depends_on: [fan], with: {value: $fan.output.0.text}}\n"
    assert load_workflow_text(ok, "wf.yaml").name == "wf"
    text = _issues(base + "  - {id: b, mode: fixture.echo, depends_on: [fan], with: {value: $fan.output.text}}\n")
    assert "$fan.output.text: fan.output is a list (one output per for_each item): 'text' is not an index" in text
    text = _issues(base + "  - {id: b, mode: fixture.echo, depends_on: [fan], with: {value: $fan.output.0.txt}}\n")
    assert "fan.output.0 has no field 'txt'; did you mean 'text'?" in text


def test_for_each_over_a_model_field_that_is_not_a_list(lh_home: Path):
    text = _issues(
        "name: wf\nnodes:\n"
        "  - {id: a, mode: fixture.sleep, with: {seconds: 0}}\n"
        "  - {id: b, mode: fixture.echo, depends_on: [a], for_each: $a.output, with: {value: $item}}\n"
        "  - {id: c, mode: fixture.echo, depends_on: [a], for_each: $a.output.slept, with: {value: $item}}\n"
    )
    assert "b: for_each: $a.output is not a list: a.output is a SleepOut" in text
    assert "c: for_each: $a.output.slept is not a list: a.output.slept is a float" in text


def test_for_each_over_unknown_shapes_is_accepted(lh_home: Path):
    # fixture.echo's value is Any, an input of type any: only the run can tell
    load_workflow_text(
        "name: wf\ninputs:\n  xs: {type: any}\nnodes:\n"
        "  - {id: a, mode: fixture.echo, with: {value: [1]}}\n"
        "  - {id: b, mode: fixture.echo, depends_on: [a], for_each: $a.output.value, with: {value: $item.anything}}\n"
        "  - {id: c, mode: fixture.echo, for_each: $inputs.xs, with: {value: $item}}\n",
        "wf.yaml",
    )


# ------------------------------------------------------------------------------------ output_schema
PROMPT = "  - id: p\n    prompt: hi\n    model: openai/gpt-4o-mini\n    output_schema: {schema}\n"


@pytest.mark.parametrize(
    ("schema", "ref"),
    [
        ("{type: object}", "$p.output.anything.at.all"),
        ("{type: object, properties: {a: {type: string}}, additionalProperties: true}", "$p.output.other"),
        ("{type: object, properties: {a: {type: string}}, additionalProperties: {type: integer}}", "$p.output.other"),
        ("{type: object, properties: {a: {type: object}}}", "$p.output.a.deeper"),
        ("{type: array, items: {type: object, properties: {n: {type: integer}}}}", "$p.output.3.n"),
        (
            "{type: object, properties: {pair: {prefixItems: [{type: string}, {type: object, properties: {x: {}}}]}}}",
            "$p.output.pair.1.x",
        ),
        ("{anyOf: [{type: object}, {type: array}]}", "$p.output.x"),
    ],
)
def test_references_the_schema_allows(lh_home: Path, schema: str, ref: str):
    text = "name: wf\nnodes:\n" + PROMPT.format(schema=schema)
    text += f"  - {{id: use, mode: fixture.echo, depends_on: [p], with: {{value: '{ref}'}}}}\n"
    load_workflow_text(text, "wf.yaml")


@pytest.mark.parametrize(
    ("schema", "ref", "expected"),
    [
        ("{type: object, properties: {a: {type: string}}}", "$p.output.b", "p.output has no property 'b' in the"),
        (
            "{type: object, properties: {a: {type: string}}}",
            "$p.output.a.x",
            "p.output.a is string in the output_schema: it has no field 'x'",
        ),
        (
            "{type: array, items: {type: object, properties: {n: {type: integer}}}}",
            "$p.output.0.m",
            "p.output.0 has no property 'm'",
        ),
        (
            "{type: array, items: {type: object}}",
            "$p.output.first",
            "p.output is array in the output_schema: it has no field 'first'",
        ),
    ],
)
def test_references_the_schema_refuses(lh_home: Path, schema: str, ref: str, expected: str):
    text = "name: wf\nnodes:\n" + PROMPT.format(schema=schema)
    text += f"  - {{id: use, mode: fixture.echo, depends_on: [p], with: {{value: '{ref}'}}}}\n"
    assert expected in _issues(text)


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        ("{type: object, required: yes}", "output_schema.required"),
        ("{properties: {a: {minLength: -1}}}", "output_schema.properties.a.minLength"),
        ("{type: object, properties: {a: {pattern: '('}}}", "output_schema.properties.a.pattern"),
        ("{patternProperties: {'(': {}}}", "output_schema"),
    ],
)
def test_invalid_schemas_name_the_path(lh_home: Path, schema: str, field: str):
    text = _issues("name: wf\nnodes:\n" + PROMPT.format(schema=schema))
    assert f"wf.yaml:p: {field}" in text and "not a valid JSON Schema" in text, text


def test_for_each_over_a_schema_array_and_its_items(lh_home: Path):
    hits = "hits: {type: array, items: {type: object, properties: {id: {}}}}"
    schema = "{type: object, properties: {" + hits + ", n: {type: integer}}}"
    text = "name: wf\nnodes:\n" + PROMPT.format(schema=schema)
    fan = "  - {id: f, mode: fixture.echo, depends_on: [p], for_each: $p.output.hits, "
    load_workflow_text(text + fan + "with: {value: $item.id}}\n", "wf.yaml")
    bad = text + fan + "with: {value: $item.idd}}\n"
    assert "$item.idd: $item has no property 'idd' in the output_schema; did you mean 'id'?" in _issues(bad)
    bad = text + "  - {id: f, mode: fixture.echo, depends_on: [p], for_each: $p.output.n, with: {value: $item}}\n"
    assert "$p.output.n is not a list: p.output.n is integer in the output_schema" in _issues(bad)


# ------------------------------------------------------------------------------------ sub-workflows
def test_recursion_through_saved_workflows_prints_the_chain(saved):
    saved("rec-a", "name: rec-a\nnodes:\n  - {id: to_b, workflow: rec-b}\n")
    saved("rec-b", "name: rec-b\nnodes:\n  - {id: to_c, workflow: rec-c}\n")
    saved("rec-c", "name: rec-c\nnodes:\n  - {id: start, mode: fixture.echo}\n  - {id: to_b, workflow: rec-b}\n")
    with pytest.raises(WorkflowError) as info:
        load_workflow("rec-a")
    assert [str(i).split(".yaml", 1)[1] for i in info.value.issues] == [
        ":to_b: workflow: recursive sub-workflows: rec-a -> rec-b -> rec-c -> rec-b"
    ]
    with pytest.raises(WorkflowError, match="recursive sub-workflows: rec-c -> rec-b -> rec-c"):
        load_workflow("rec-c")


def test_two_workflows_using_each_other(saved):
    saved("ping", "name: ping\nnodes:\n  - {id: p, workflow: pong}\n")
    saved("pong", "name: pong\nnodes:\n  - {id: q, workflow: ping}\n")
    with pytest.raises(WorkflowError, match=r"ping.yaml:p: workflow: recursive sub-workflows: ping -> pong -> ping$"):
        load_workflow("ping")


def test_a_child_used_twice_is_loaded_once_and_shared(saved):
    saved(
        "child", "name: child\ninputs:\n  n: {type: integer, default: 1}\nnodes:\n  - {id: only, mode: fixture.echo}\n"
    )
    loaded = load_workflow_text(
        "name: parent\nnodes:\n"
        "  - {id: one, workflow: child, with: {n: 2}}\n"
        "  - {id: two, workflow: child, depends_on: [one], with: {n: $one.output.only.value}}\n",
        "parent.yaml",
    )
    assert list(loaded.subworkflows) == ["child"]
    assert loaded.shapes["one"] == loaded.shapes["two"]


def test_a_changed_child_is_noticed_on_the_next_load(saved):
    child = saved("kid", "name: kid\nnodes:\n  - {id: only, mode: fixture.echo}\n")
    parent = "name: parent\nnodes:\n  - {id: sub, workflow: kid}\n"
    assert load_workflow_text(parent, "parent.yaml").subworkflows["kid"].name == "kid"
    child.write_text("name: kid\nnodes:\n  - {id: only, mode: fixture.ech}\n")
    with pytest.raises(WorkflowError, match="sub-workflow 'kid' is invalid: kid:only: mode: unknown mode"):
        load_workflow_text(parent, "parent.yaml")


def test_a_user_workflow_overrides_a_shipped_one_of_the_same_name(saved):
    saved("hello-lakehouse", "name: hello-lakehouse\ninputs:\n  other: {}\nnodes:\n  - {id: x, mode: fixture.echo}\n")
    text = _issues("name: wf\nnodes:\n  - {id: sub, workflow: hello-lakehouse, with: {text: hi}}\n")
    assert "sub: with.text: unknown input 'text' of sub-workflow 'hello-lakehouse' (inputs: other)" in text


@pytest.mark.parametrize("name", ["/etc/passwd", "../x", "x.yml", "sub\\dir", "workflows/hello-lakehouse"])
def test_a_request_cannot_name_a_file(lh_home: Path, name: str):
    with pytest.raises(WorkflowError, match="name a shipped or saved workflow, never a file"):
        load_workflow_text(f"name: wf\nnodes:\n  - {{id: sub, workflow: '{name}'}}\n", "<request>")


def test_with_of_a_workflow_node_is_not_checked_against_a_mode(lh_home: Path):
    # `text` is hello-lakehouse's input; references are checked, literal types against the input's type
    load_workflow_text(
        "name: wf\nnodes:\n"
        "  - {id: a, mode: fixture.echo, with: {value: 1}}\n"
        "  - {id: sub, workflow: hello-lakehouse, depends_on: [a], with: {text: $a.output.value}}\n",
        "wf.yaml",
    )
    text = _issues("name: wf\nnodes:\n  - {id: sub, workflow: hello-lakehouse, with: {text: [1, 2]}}\n")
    assert "sub: with.text: input 'text' of sub-workflow 'hello-lakehouse': expected string" in text
    text = _issues("name: wf\nnodes:\n  - {id: sub, workflow: hello-lakehouse, with: {text: $zz.output}}\n")
    assert "sub: with: $zz.output refers to unknown node 'zz'" in text


def test_a_sub_workflow_output_is_keyed_by_child_node(lh_home: Path):
    text = _issues(
        "name: wf\nnodes:\n"
        "  - {id: sub, workflow: hello-lakehouse}\n"
        "  - {id: f, mode: fixture.echo, depends_on: [sub], for_each: $sub.output, with: {value: 1}}\n"
    )
    assert "$sub.output is not a list: sub.output is a mapping of the sub-workflow's node outputs" in text


def test_sub_workflows_nest_at_most_sixteen_deep(saved):
    for level in range(20):
        saved(f"deep{level}", f"name: deep{level}\nnodes:\n  - {{id: down, workflow: deep{level + 1}}}\n")
    saved("deep20", "name: deep20\nnodes:\n  - {id: leaf, mode: fixture.echo}\n")
    with pytest.raises(WorkflowError) as info:
        load_workflow("deep0")
    chain = " -> ".join(f"deep{level}" for level in range(17))
    assert str(info.value).endswith(f"deep0.yaml:down: workflow: sub-workflows nested deeper than 16 levels: {chain}")
    assert load_workflow("deep5").subworkflows["deep6"].name == "deep6"


def test_defaults_as_yaml_writes_them_and_tagged_keys_still_load(lh_home: Path):
    """Checking the defaults' types must not refuse what ran before: an unquoted date for a string
    input, 3.0 for an integer; a default reaches the run as written (10 stays 10, not 10.0). A key
    under YAML's non-specific tag is read as if plain (`! 7` is the integer 7: named, not "a !")."""
    text = """
name: defaults-as-written
inputs:
  since: {type: string, default: 2024-01-01}
  count: {type: integer, default: 3.0}
  n: {type: number, default: 10}
nodes:
  - {id: a, mode: fixture.echo, with: {value: {! x: "n=$inputs.n"}}}
"""
    loaded = load_workflow_text(text, "defaults.yaml", {})
    assert loaded.inputs["n"] == 10 and isinstance(loaded.inputs["n"], int)
    assert loaded.nodes["a"].with_ == {"value": {"x": "n=$inputs.n"}}
    with pytest.raises(WorkflowError, match=r"the key '7' at line 8, column \d+ reads as an integer, not text"):
        load_workflow_text(text.replace("! x", "! 7"), "defaults.yaml", {})
