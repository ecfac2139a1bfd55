"""Static checks of what a node is (a mode, a prompt, a sub-workflow, an approval gate) and of the
keys that shape how it runs (for_each, loop, trigger_rule, output_schema), before anything runs.

`node_problems` needs only the node; `BodyChecks` needs the whole graph: the producers' output
shapes, the sub-workflows (loaded and checked, by name only, recursion refused) and the references.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Container, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx

from flows.checks import (
    AncestorSet,
    _has_refs,
    check_node_payload,
    check_refs,
    coerce_input,
    field_value_problem,
    model_tier_problem,
    short_repr,
    suggest,
)
from flows.errors import WorkflowError
from flows.refs import ReferenceSyntaxError, whole_ref
from flows.shapes import ChildrenShape, ListShape, PyShape, SchemaShape, Shape, item_shape, list_problem, walk
from flows.spec import RESERVED_IDS, ApprovalOutcome, NodeSpec, WorkflowSpec
from flows.when import WhenSyntaxError, compile_when
from lakehouse.config import get_settings
from modes.registry import UnknownModeError, get_mode

if TYPE_CHECKING:
    from flows.loader import LoadedWorkflow

KIND_KEYS = ("mode", "prompt", "workflow", "approval")
RECURSION = "recursive sub-workflows: "
MAX_SUB_DEPTH = 16  # workflows inside workflows: each level is a Prefect subflow (and a check that recurses)
TOO_DEEP = f"sub-workflows nested deeper than {MAX_SUB_DEPTH} levels: "
# Keys an approval gate cannot have: it runs nothing, takes no input and always outputs ApprovalOutcome.
_NOT_ON_APPROVAL = {
    "with_": "with",
    "retry": "retry",
    "loop": "loop",
    "for_each": "for_each",
    "output_schema": "output_schema",
}


def node_payload(spec: WorkflowSpec, node: NodeSpec) -> dict[str, Any]:
    """The mode input of a node before references are resolved (prompt nodes become llm.chat; a
    workflow node's `with` is the child's inputs; an approval node has none)."""
    payload = dict(node.with_)
    if node.prompt is not None:
        payload.setdefault("prompt", node.prompt)
        if node.system is not None:
            payload.setdefault("system", node.system)
        model = node.model or spec.model
        provider = node.provider or spec.provider
        if model and provider and "/" not in model and model not in get_settings().models.tiers:
            model = f"{provider}/{model}"
        if model:
            payload.setdefault("model", model)
    return payload


def given_kinds(node: NodeSpec) -> list[str]:
    return [key for key in KIND_KEYS if getattr(node, key) is not None]


def single_kind(node: NodeSpec) -> str | None:
    """The node's kind when exactly one of mode/prompt/workflow/approval is given, else None."""
    return node.kind if len(given_kinds(node)) == 1 else None


def schema_problem(schema: Any) -> tuple[str, str] | None:
    """(field, message) when `schema` is not a valid JSON Schema (draft 2020-12), else None."""
    from jsonschema import Draft202012Validator  # only a workflow with an output_schema pays for it
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        path = ".".join(str(part) for part in exc.path)
        text = exc.message if len(exc.message) <= 300 else f"{exc.message[:300]}…"
        return (f"output_schema.{path}" if path else "output_schema"), f"not a valid JSON Schema: {text}"
    except Exception as exc:  # noqa: BLE001 - a value jsonschema cannot even look at (non-text keys, …)
        return "output_schema", f"not a valid JSON Schema ({type(exc).__name__}: {str(exc)[:200]})"
    return None


def with_input_problems(
    spec: WorkflowSpec, nodes: Mapping[str, NodeSpec], resolved: Mapping[str, Any]
) -> list[tuple[str, str, str]]:
    """(node, field, message) for each `with` value that is one whole `$inputs.NAME` whose run value
    the mode's field refuses: known before any node runs, so said before the run starts."""
    problems = []
    for node in nodes.values():
        if single_kind(node) not in ("mode", "prompt") or node.mode_name is None:
            continue
        try:
            model = get_mode(node.mode_name).input_model
        except UnknownModeError:  # reported by the body checks
            continue
        for key, value in node_payload(spec, node).items():
            try:
                ref = whole_ref(value)
            except ReferenceSyntaxError:  # reported by the body checks
                continue
            if ref is None or not ref.is_input or len(ref.path) != 1 or key not in model.model_fields:
                continue
            given = resolved.get(ref.path[0])
            problem = None if given is None else field_value_problem(model, key, given)
            if problem:
                problems.append((node.id, f"with.{key}", f"{problem} (got {short_repr(given)} from {ref.text})"))
    return problems


def node_problems(node: NodeSpec, raw_keys: Collection[str] = ()) -> list[tuple[str, str]]:
    """(field, message) for one node on its own: its kind, its id, keys that need or exclude others.
    `raw_keys`: the keys as written (a kind key dropped for a bad value is not "missing")."""
    problems: list[tuple[str, str]] = []
    kinds = given_kinds(node)
    if not kinds and not set(KIND_KEYS) & set(raw_keys):
        problems.append(
            (
                "mode",
                "the node needs one of `mode:`, `prompt:` (an LLM call), `workflow:` (a sub-workflow) or `approval:`",
            )
        )
    elif len(kinds) > 1:
        both = " and ".join(f"`{k}:`" for k in kinds)
        problems.append((kinds[1], f"give exactly one of `mode:`, `prompt:`, `workflow:` or `approval:`, not {both}"))
    if node.id in RESERVED_IDS:
        reserved = ", ".join(sorted(RESERVED_IDS))
        problems.append(("id", f"node id {node.id!r} is reserved for ${node.id} references (reserved: {reserved})"))
    explicit = node.model_fields_set
    if node.for_each is None and "for_each" not in raw_keys:
        for key in ("max_parallel", "allow_item_failures"):
            if key in explicit:
                problems.append((key, f"`{key}` only applies to a node with `for_each`"))
    elif node.loop is not None:
        problems.append(("loop", "a node cannot have both `for_each` and `loop`: put the loop in a sub-workflow"))
    kind = single_kind(node)
    if kind == "approval":
        for name, key in _NOT_ON_APPROVAL.items():
            if name in explicit:
                problems.append(
                    (key, f"an approval node takes no `{key}:` (a gate runs nothing: its output is the decision)")
                )
    if node.output_schema is not None and kind != "approval":  # (said above for approval nodes)
        if kind is not None and kind != "prompt":
            problems.append(("output_schema", f"only prompt nodes take an output_schema (this is a {kind} node)"))
        else:
            problem = schema_problem(node.output_schema)
            if problem:
                problems.append(problem)
    return problems


# ------------------------------------------------------------------------------ sub-workflows
@dataclass
class SubWorkflows:
    """Sub-workflow loads shared by one check and the checks of its sub-workflows (each name is
    loaded once). `stack` is the chain of workflow names being checked, the root's first."""

    load: Callable[[Path, SubWorkflows], LoadedWorkflow]  # checks a child file one level deeper
    stack: tuple[str, ...] = ()
    done: dict[str, LoadedWorkflow | WorkflowError] = field(default_factory=dict)
    known: dict[str, Path] = field(default_factory=dict)
    listed: bool = False

    def names(self) -> dict[str, Path]:
        if not self.listed:
            from flows.loader import find_workflows

            self.known.update(find_workflows())
            self.listed = True
        return self.known

    def child(self, name: str, add: Callable[[str, str], None]) -> LoadedWorkflow | None:
        """The checked sub-workflow `name`, or None after `add(field, message)` said why not."""
        if "/" in name or "\\" in name or name.endswith((".yaml", ".yml")):
            add("workflow", f"name a shipped or saved workflow, never a file: {short_repr(name)} is a path")
            return None
        if name in self.stack:
            add("workflow", RECURSION + " -> ".join([*self.stack, name]))
            return None
        if name not in self.done and len(self.stack) >= MAX_SUB_DEPTH:
            chain = " -> ".join([*self.stack, name])
            add("workflow", TOO_DEEP + chain)
            return None
        if name not in self.done:
            known = self.names()
            if name not in known:
                add(
                    "workflow",
                    f"unknown workflow {short_repr(name)}{suggest(name, set(known))}"
                    f" (known: {', '.join(sorted(known)) or 'none'})",
                )
                return None
            try:
                self.done[name] = self.load(known[name], dataclasses.replace(self, stack=(*self.stack, name)))
            except WorkflowError as exc:
                self.done[name] = exc
        result = self.done[name]
        if isinstance(result, WorkflowError):
            for issue in result.issues:
                whole_chain = issue.message.startswith((RECURSION, TOO_DEEP))  # said as is, once, at the top
                # NAME:NODE: rather than the child's file: a request over HTTP learns no server paths
                where = str(issue).removeprefix(issue.file)
                add("workflow", issue.message if whole_chain else f"sub-workflow {name!r} is invalid: {name}{where}")
            return None
        return result


# ------------------------------------------------------------------------------ the whole graph
class BodyChecks:
    """Inputs, references and conditions of every node, against the shapes of their producers."""

    def __init__(
        self,
        spec: WorkflowSpec,
        nodes: dict[str, NodeSpec],
        graph: nx.DiGraph,
        add: Callable[[str | None, str | None, str], None],
        subs: SubWorkflows,
        written: Mapping[str, Collection[str]] | None = None,
    ) -> None:
        self.spec, self.nodes, self.graph, self.add, self.subs = spec, nodes, graph, add, subs
        # each node's keys as written: a `loop:` or `for_each:` refused for a bad value still
        # defines $iteration or $item for the rest of the node (one problem, not a cascade)
        self.written = written or {}
        self.children: dict[str, LoadedWorkflow] = {}  # node id -> its checked sub-workflow
        self.subworkflows: dict[str, LoadedWorkflow] = {}  # the same by workflow name
        self.shapes: dict[str, Shape | None] = {}

    def run(self) -> dict[str, Shape | None]:
        """Check every node; returns each node's output shape (what references into it may name)."""
        base = {node_id: self.base_shape(node) for node_id, node in self.nodes.items()}
        for node_id, node in self.nodes.items():
            fans_out = node.for_each is not None and single_kind(node) != "approval"
            self.shapes[node_id] = ListShape(base[node_id]) if fans_out else base[node_id]
        ancestors_of = AncestorSet.all_of(self.graph)  # one pass in topological order (or everyone, given a cycle)
        for node_id, node in self.nodes.items():
            self.check_node(node, ancestors_of[node_id], base[node_id])
        return self.shapes

    def base_shape(self, node: NodeSpec) -> Shape | None:
        """One run's output (one item's, one iteration's); reports unknown modes and bad sub-workflows."""
        kind = single_kind(node)
        if kind == "approval":
            return PyShape(ApprovalOutcome)
        if kind == "workflow" and node.workflow is not None:
            child = self.subs.child(node.workflow, lambda f, m: self.add(node.id, f, m))
            if child is None:
                return None
            self.children[node.id] = self.subworkflows[node.workflow] = child
            return ChildrenShape(node.workflow, dict(child.shapes))
        if kind == "prompt" and node.output_schema is not None:
            return SchemaShape(node.output_schema) if schema_problem(node.output_schema) is None else None
        if node.mode_name is None:
            return None
        try:
            return PyShape(get_mode(node.mode_name).output_model)
        except UnknownModeError as exc:
            self.add(node.id, "mode", str(exc))
            return None

    def refs(self, node: NodeSpec, field_name: str, value: Any, ancestors: AncestorSet, **kw: Any) -> None:
        for message in check_refs(value, self.spec.inputs, self.nodes, ancestors, self.shapes, node.id, **kw):
            self.add(node.id, field_name, message)

    def check_node(self, node: NodeSpec, ancestors: AncestorSet, base: Shape | None) -> None:
        kind = single_kind(node)
        written = self.written.get(node.id, ())
        item_scopes: dict[str, Shape | None] = {}
        if (node.for_each is not None or "for_each" in written) and kind != "approval":
            source = self.check_for_each(node, ancestors) if node.for_each is not None else None
            item_scopes = {"item": item_shape(source), "index": PyShape(int)}
        loop_scopes: dict[str, Shape | None] = {}
        if (node.loop is not None or "loop" in written) and kind != "approval":
            loop_scopes = {"iteration": PyShape(int), "previous": base}
        payload = node_payload(self.spec, node)
        if kind in ("mode", "prompt") and node.mode_name is not None:
            try:
                input_model = get_mode(node.mode_name).input_model
            except UnknownModeError:  # reported by base_shape
                input_model = None
            for field_name, message in check_node_payload(input_model, payload) if input_model else ():
                self.add(node.id, field_name, message)
        if node.mode_name == "llm.chat" and kind in ("mode", "prompt"):
            problem = model_tier_problem(payload.get("model"), get_settings().models.tiers)
            if problem:
                self.add(node.id, "model", problem)
        if node.id in self.children:
            self.check_child_inputs(node, self.children[node.id])
        if kind != "approval":
            self.refs(node, "with", payload, ancestors, scopes={**item_scopes, **loop_scopes})
        if node.when is not None:
            self.refs(node, "when", node.when, ancestors, scopes=item_scopes)
            try:
                compile_when(node.when)
            except WhenSyntaxError as exc:
                self.add(node.id, "when", f"bad when expression {short_repr(node.when)}: {exc}")
        if node.loop is not None and kind != "approval":
            until = node.loop.until
            try:
                compile_when(until)
            except WhenSyntaxError as exc:
                self.add(node.id, "loop.until", f"bad until condition {short_repr(until)}: {exc}")
            self.refs(node, "loop.until", until, ancestors, scopes=loop_scopes, self_shape=base, allow_self=True)
        if node.approval is not None and kind == "approval":
            self.check_on_reject(node, ancestors)

    def check_for_each(self, node: NodeSpec, ancestors: AncestorSet) -> Shape | None:
        """The shape of the list the node fans out over (None: unknown or wrong, then reported)."""
        text = node.for_each or ""
        try:
            ref = whole_ref(text)
        except ReferenceSyntaxError as exc:
            self.add(node.id, "for_each", f"bad reference: {exc}")
            return None
        if ref is None:
            self.add(
                node.id,
                "for_each",
                f"for_each takes one whole reference to a list, such as $NODE.output.FIELD or $inputs.NAME "
                f"(got {short_repr(text)})",
            )
            return None
        if ref.scope is not None:
            self.add(node.id, "for_each", f"for_each takes $NODE.output… or $inputs.NAME, not ${ref.scope}")
            return None
        problems = list(check_refs(text, self.spec.inputs, self.nodes, ancestors, self.shapes, node.id))
        for message in problems:
            self.add(node.id, "for_each", message)
        if problems:
            return None
        if ref.node is None:
            declared = self.spec.inputs[ref.path[0]]
            if len(ref.path) == 1 and declared.type not in ("array", "any"):
                self.add(
                    node.id,
                    "for_each",
                    f"{ref.text} is not a list: input {ref.path[0]!r} is declared as {declared.type}",
                )
            return None
        _, shape = walk(self.shapes.get(ref.node), ref.path)
        why = list_problem(shape)
        if why:
            where = ".".join([ref.node, "output", *ref.path])
            self.add(node.id, "for_each", f"{ref.text} is not a list: {where} is {why}")
            return None
        return shape

    def check_child_inputs(self, node: NodeSpec, child: LoadedWorkflow) -> None:
        declared = child.spec.inputs
        name = node.workflow
        for key, value in node.with_.items():
            if key not in declared:
                self.add(
                    node.id,
                    f"with.{key}",
                    f"unknown input {short_repr(key)} of sub-workflow {name!r}{suggest(key, declared)}"
                    f" (inputs: {', '.join(declared) or 'none'})",
                )
            elif not _has_refs(value):
                _, problem = coerce_input(declared[key], value)
                if problem:
                    self.add(node.id, f"with.{key}", f"input {key!r} of sub-workflow {name!r}: {problem}")
        for key, spec in declared.items():
            if spec.required and key not in node.with_:
                self.add(node.id, f"with.{key}", f"missing required input {key!r} of sub-workflow {name!r}")

    def check_on_reject(self, node: NodeSpec, ancestors: Container[str]) -> None:
        assert node.approval is not None
        for target in node.approval.on_reject:
            if target not in self.nodes:
                message = f"unknown node {short_repr(target)}{suggest(target, set(self.nodes))}"
                self.add(node.id, "approval.on_reject", message)
            elif target == node.id:
                message = f"gate {node.id!r} cannot list itself: on_reject names the nodes that run when it is rejected"
                self.add(node.id, "approval.on_reject", message)
            elif target in ancestors:
                self.add(
                    node.id,
                    "approval.on_reject",
                    f"node {target!r} runs before {node.id!r} (which depends on it), so it cannot run when "
                    f"{node.id!r} is rejected: name a node that comes after the gate",
                )
            elif node.id not in self.nodes[target].depends_on:
                self.add(
                    node.id,
                    "approval.on_reject",
                    f"node {target!r} must list {node.id!r} in its depends_on (it runs when {node.id!r} is rejected)",
                )
