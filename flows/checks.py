"""Static checks of one node: its `with` values against the mode's input model, and its references
against the graph and the producers' output models."""

from __future__ import annotations

import math
import typing
from collections import deque
from collections.abc import Collection, Container, Iterator, Mapping
from datetime import date, datetime
from functools import cache
from typing import Any

import networkx as nx
from pydantic import BaseModel, TypeAdapter, ValidationError

from flows.refs import ReferenceSyntaxError, find_refs
from flows.shapes import PyShape, Shape, walk
from flows.spec import InputSpec, NodeSpec
from lakehouse.common.suggest import did_you_mean
from lakehouse.common.validation import problem_text, validation_problems


def suggest(word: str, choices) -> str:
    """The workflow checks' hint: at most two close names."""
    return did_you_mean(word, choices, n=2, cutoff=0.6)


def short_repr(value: Any, limit: int = 120) -> str:
    """repr(value) cut to `limit` characters: a message never echoes a megabyte of user data."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def value_shape_problem(value: Any, max_depth: int, max_values: int) -> str | None:
    """Why a (JSON-like) value is too deep or too big, or None. Iterative: a value nested 100,000
    deep or shared with itself costs at most `max_values` steps, never a RecursionError."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        if seen > max_values:
            return f"holds more than {max_values:,} values (setting workflow_max_values)"
        children: Collection[Any]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth >= max_depth and children:
            return f"is nested deeper than {max_depth} levels (setting workflow_max_depth)"
        stack.extend((child, depth + 1) for child in children)
    return None


def find_cycles(graph: nx.DiGraph) -> list[list[str]]:
    """One shortest cycle through the smallest node of each cyclic strongly connected component,
    starting at that node. O(nodes + edges): at most one cycle per component is ever looked at."""
    cycles = []
    for component in nx.strongly_connected_components(graph):
        start = min(component)
        if len(component) == 1 and not graph.has_edge(start, start):
            continue
        parent: dict[str, str | None] = {start: None}
        queue = deque([start])
        found: str | None = None
        while queue and found is None:  # breadth first inside the component, back to `start`
            current = queue.popleft()
            for nxt in graph.successors(current):
                if nxt == start:
                    found = current
                    break
                if nxt in component and nxt not in parent:
                    parent[nxt] = current
                    queue.append(nxt)
        path = []
        at: str | None = found
        while at is not None:
            path.append(at)
            at = parent[at]
        cycles.append(path[::-1])
    return sorted(cycles)


class AncestorSet:
    """`name in ancestors`: a bit set over the graph's nodes (or every other node, given a cycle)."""

    def __init__(self, bits: int, index: dict[str, int]) -> None:
        self.bits = bits
        self.index = index

    def __contains__(self, name: object) -> bool:
        position = self.index.get(name) if isinstance(name, str) else None
        return position is not None and bool(self.bits >> position & 1)

    @classmethod
    def all_of(cls, graph: nx.DiGraph) -> dict[str, AncestorSet]:
        """Every node's ancestors in one pass in topological order: O(edges × nodes / 64) word
        operations, where one `nx.ancestors` per node is O(nodes × edges)."""
        index = {name: i for i, name in enumerate(graph)}
        if not nx.is_directed_acyclic_graph(graph):
            everyone = (1 << len(index)) - 1
            return {name: cls(everyone & ~(1 << i), index) for name, i in index.items()}
        bits: dict[str, int] = {}
        for name in nx.topological_sort(graph):
            acc = 0
            for pred in graph.predecessors(name):
                acc |= bits[pred] | (1 << index[pred])
            bits[name] = acc
        return {name: cls(bits[name], index) for name in graph}


def model_tier_problem(model: Any, tiers: Collection[str]) -> str | None:
    """A chat node's `model` must name a configured tier or be provider-prefixed (`ollama_chat/...`).

    A reference (`$inputs.model`) is checked when the run resolves it."""
    if not isinstance(model, str) or "/" in model or model in tiers or _has_refs(model):
        return None
    configured = ", ".join(sorted(tiers)) or "none configured"
    return (
        f"model tier {model!r} is not configured (tiers in [models.tiers]: {configured}); name a tier, or a "
        f"provider-prefixed model such as 'ollama_chat/llama3.2' or 'openai/gpt-4o-mini'{suggest(model, tiers)}"
    )


def _has_refs(value: Any) -> bool:
    try:
        return next(find_refs(value), None) is not None
    except ReferenceSyntaxError:
        return True  # reported by check_refs


@cache
def _field_adapter(model: type[BaseModel], name: str) -> TypeAdapter:
    field = model.model_fields[name]
    annotation = Any if field.annotation is None else field.annotation  # None: declared without a type
    if not field.metadata:
        return TypeAdapter(annotation)
    # a run-time built Annotated[...] is a valid type form; mypy types it as a special form only
    return TypeAdapter(typing.Annotated[annotation, *field.metadata])  # type: ignore[arg-type]


def field_value_problem(model: type[BaseModel], name: str, value: Any) -> str | None:
    """What is wrong with `value` for the field `name` of `model` (one line), or None."""
    try:
        _field_adapter(model, name).validate_python(value)
    except ValidationError as exc:
        return problem_text(exc.errors()[0])
    return None


def check_node_payload(model: type[BaseModel], payload: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for unknown, missing and ill-typed `with` values (references are skipped)."""
    problems: list[tuple[str, str]] = []
    fields = model.model_fields
    forbid = model.model_config.get("extra") == "forbid"
    for key in payload:
        if key not in fields and forbid:
            problems.append(
                (
                    f"with.{key}",
                    f"unknown field {short_repr(key)} for this mode{suggest(key, fields)}"
                    f" (fields: {', '.join(fields)})",
                )
            )
    for name, field in fields.items():
        if field.is_required() and name not in payload:
            problems.append((f"with.{name}", f"missing required field {name!r}"))
    literal_only = True
    for key, value in payload.items():
        if key not in fields:
            continue
        if _has_refs(value):
            literal_only = False
            continue
        problem = field_value_problem(model, key, value)
        if problem:
            problems.append((f"with.{key}", f"{problem} (got {short_repr(value)})"))
    if literal_only and not problems:
        try:  # model-level rules (e.g. "exactly one of prompt or messages")
            model.model_validate(payload)
        except ValidationError as exc:
            for loc, problem in validation_problems(exc):
                problems.append((f"with.{loc}" if loc else "with", problem))
    return problems


def _walk_output(model: type[BaseModel], path: tuple[str, ...]) -> str | None:
    """None if the path exists in the output model (as far as types tell), else the problem."""
    return walk(PyShape(model), path)[0]


# Where the per-run names may be used, and what they stand for (see flows/refs.py).
_SCOPE_HOME = {
    "item": ("for_each", "with, when and prompt"),
    "index": ("for_each", "with, when and prompt"),
    "iteration": ("loop", "with, prompt and loop.until"),
    "previous": ("loop", "with, prompt and loop.until"),
}


def check_refs(
    value: Any,
    declared_inputs: dict[str, InputSpec],
    nodes: dict[str, NodeSpec],
    ancestors: Container[str],
    shapes: Mapping[str, Shape | None],
    node_id: str,
    scopes: Mapping[str, Shape | None] | None = None,
    self_shape: Shape | None = None,
    allow_self: bool = False,
) -> Iterator[str]:
    """Problems of the references in `value`: undeclared inputs, unknown or non-ancestor nodes,
    paths the producer's output shape lacks, and per-run names (`$item`, `$previous`, …) outside
    the `scopes` this field has. `allow_self`: `$NODE.output` of this very node (a loop's `until`)."""
    try:
        refs = list(find_refs(value))
    except ReferenceSyntaxError as exc:
        yield f"bad reference: {exc}"
        return
    scopes = scopes or {}
    for ref in refs:
        if ref.scope is not None:
            if ref.scope not in scopes:
                feature, where = _SCOPE_HOME[ref.scope]
                yield f"{ref.text}: ${ref.scope} is only defined in a node with {feature} (in {where})"
            elif ref.scope in ("index", "iteration") and ref.path:
                yield f"{ref.text}: ${ref.scope} is a number: it has no field {ref.path[0]!r}"
            else:
                problem, _ = walk(scopes[ref.scope], ref.path, f"${ref.scope}")
                if problem:
                    yield f"{ref.text}: {problem}"
        elif ref.node is None:  # an $inputs reference
            name = ref.path[0]
            if name not in declared_inputs:
                yield (
                    f"{ref.text} refers to undeclared input {name!r}{suggest(name, declared_inputs)}"
                    f" (declared: {', '.join(declared_inputs) or 'none'})"
                )
        elif ref.node not in nodes:
            yield f"{ref.text} refers to unknown node {ref.node!r}{suggest(ref.node, nodes)}"
        elif ref.node == node_id:
            if not allow_self:
                loop_hint = " (in a loop, $previous is the previous iteration's output)" if scopes else ""
                yield f"{ref.text} refers to the node itself{loop_hint}"
            else:
                problem, _ = walk(self_shape, ref.path)
                if problem:
                    yield f"{ref.text}: {ref.node}.{problem}"
        elif ref.node not in ancestors:
            yield (
                f"{ref.text} refers to node {ref.node!r}, which is not upstream of {node_id!r}: add it to depends_on"
            )
        else:
            problem, _ = walk(shapes.get(ref.node), ref.path)
            if problem:
                yield f"{ref.text}: {ref.node}.{problem}"


# --------------------------------------------------------------------------------- declared inputs
_INPUT_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "object": dict,
    "array": list,
    "any": Any,
}


@cache
def _adapter(kind: str) -> TypeAdapter:
    return TypeAdapter(_INPUT_TYPES[kind])


def _not_finite(value: Any) -> float | None:
    """The first NaN or infinity anywhere in a value (JSON has neither: a run would record null)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return item
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return None


def coerce_input(declared: InputSpec, value: Any) -> tuple[Any, str | None]:
    if declared.type == "string" and isinstance(value, (int, float, bool)):
        return str(value), None  # `--input zip=60601` means the text 60601
    if declared.type == "string" and isinstance(value, (date, datetime)):
        return value.isoformat(), None  # YAML's unquoted `default: 2024-01-01`
    if declared.type == "integer" and isinstance(value, float) and value.is_integer():
        value = int(value)  # 3.0 is the integer 3
    try:
        coerced = _adapter(declared.type).validate_python(value, strict=declared.type != "number")
    except ValidationError as exc:
        return value, f"expected {declared.type}, got {short_repr(value)} ({exc.errors()[0]['msg']})"
    bad = _not_finite(coerced)
    if bad is not None:
        return value, f"expected {declared.type} with finite numbers, got {short_repr(value)} ({bad} is not one)"
    if declared.type == "integer" and not -(2**63) <= coerced < 2**63:
        return value, f"expected an integer of 64 bits (what tables and SQL hold), got {short_repr(value)}"
    return coerced, None
