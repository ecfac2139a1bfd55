"""References in workflow values: `$inputs.NAME`, `$NODE.output`, `$NODE.output.FIELD[.FIELD…]`,
and the per-run scope names: `$item[.FIELD…]` and `$index` in a fan-out (`for_each`) node,
`$iteration` and `$previous[.FIELD…]` in a loop node.

A value that is one whole reference keeps its type; a reference inside a longer string is rendered
as text (JSON for lists and dicts). `$$` is a literal dollar sign.

What references bring into one node's input is bounded (`workflow_max_input_chars`, counted as
JSON text): a few bytes of workflow that repeat a reference, or chain nodes that each render their
upstream's output several times, would otherwise grow a node's input geometrically.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flows.errors import InputTooLarge, ReferenceLookupError, ReferenceSyntaxError

_REF = re.compile(r"\$\$|\$([A-Za-z_][A-Za-z0-9_-]*)((?:\.[A-Za-z0-9_]+)*)")


SCOPE_NAMES = ("item", "index", "iteration", "previous")


@dataclass(frozen=True)
class Ref:
    text: str
    node: str | None  # None for $inputs and scope names
    path: tuple[str, ...]  # for inputs: (NAME, ...); for nodes: the part after `.output`; for scopes: after the name
    scope: str | None = None  # item | index | iteration | previous

    @property
    def is_input(self) -> bool:
        return self.node is None and self.scope is None


def _parse(match: re.Match) -> Ref:
    head, tail = match.group(1), match.group(2)
    parts = tuple(p for p in tail.split(".") if p)
    if head == "inputs":
        if not parts:
            raise ReferenceSyntaxError(f"{match.group(0)!r} names no input: use $inputs.NAME")
        return Ref(match.group(0), None, parts)
    if head in SCOPE_NAMES:
        return Ref(match.group(0), None, parts, scope=head)
    if not parts or parts[0] != "output":
        raise ReferenceSyntaxError(f"{match.group(0)!r} is not a reference: use ${head}.output or ${head}.output.FIELD")
    return Ref(match.group(0), head, parts[1:])


def find_refs(value: Any) -> Iterator[Ref]:
    """Every reference inside a (possibly nested) value. Raises ReferenceSyntaxError."""
    if isinstance(value, str):
        for match in _REF.finditer(value):
            if match.group(0) != "$$":
                yield _parse(match)
    elif isinstance(value, dict):
        for item in value.values():
            yield from find_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from find_refs(item)


def whole_ref(value: Any) -> Ref | None:
    if isinstance(value, str):
        match = _REF.fullmatch(value.strip())
        if match and match.group(0) != "$$":
            return _parse(match)
    return None


def lookup(ref: Ref, inputs: dict[str, Any], outputs: dict[str, Any], scope: dict[str, Any] | None = None) -> Any:
    if ref.scope is not None:
        if scope is None or ref.scope not in scope:
            raise ReferenceLookupError(f"{ref.text}: ${ref.scope} has no value here")
        current, path = scope[ref.scope], ref.path
        where = f"${ref.scope}"
        if ref.scope == "previous" and current is None:
            return None  # the first iteration has no previous output: every field of it is null
    elif ref.is_input:
        current, path = inputs, ref.path
        where = "inputs"
    else:
        if ref.node not in outputs:
            raise ReferenceLookupError(f"{ref.text}: node {ref.node!r} has no output")
        current, path = outputs[ref.node], ref.path
        where = f"{ref.node}.output"
    for part in path:
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            raise ReferenceLookupError(f"{ref.text}: {where} has no {part!r}")
        where = f"{where}.{part}"
    return current


def _as_text(value: Any, ref: Ref | None = None) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (RecursionError, ValueError) as exc:  # nested too deeply, or contains itself
        name = ref.text if ref is not None else "a value"
        raise ReferenceLookupError(f"{name}: cannot be rendered as text ({type(exc).__name__})") from None


class _Budget:
    """Characters the references of one node's input have brought in so far."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, chars: int, field: str) -> None:
        self.used += chars
        if self.used > self.limit:
            raise InputTooLarge(field, self.limit, self.used)


def _default_limit() -> int:
    from lakehouse.config import get_settings

    return get_settings().workflow_max_input_chars


def resolve(
    value: Any,
    inputs: dict[str, Any],
    outputs: dict[str, Any],
    *,
    max_chars: int | None = None,
    field: str = "with",
    scope: dict[str, Any] | None = None,
) -> Any:
    """Replace references with values; whole references keep their type.

    Everything the references bring in (a whole reference's value, measured as JSON, and every
    rendered reference inside a string) counts against one budget of `max_chars` (default: the
    setting `workflow_max_input_chars`); past it, InputTooLarge names the field (`with.KEY...`).
    """
    budget = _Budget(_default_limit() if max_chars is None else max_chars)
    return _resolve(value, inputs, outputs, budget, field, scope)


def _resolve(
    value: Any, inputs: dict[str, Any], outputs: dict[str, Any], budget: _Budget, field: str, scope: dict | None
) -> Any:
    if isinstance(value, str):
        ref = whole_ref(value)
        if ref is not None:
            found = lookup(ref, inputs, outputs, scope)
            # a whole reference passes the object itself; its size still counts (each use would be
            # copied on into the mode's output, the run's result and the ops)
            budget.take(len(found) if isinstance(found, str) else len(_as_text(found, ref)), field)
            return found

        def render(match: re.Match) -> str:
            if match.group(0) == "$$":
                return "$"
            ref = _parse(match)
            text = _as_text(lookup(ref, inputs, outputs, scope), ref)
            budget.take(len(text), field)  # checked per piece: a string repeating a reference stops early
            return text

        return _REF.sub(render, value)
    if isinstance(value, dict):
        return {k: _resolve(v, inputs, outputs, budget, f"{field}.{k}", scope) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, inputs, outputs, budget, f"{field}.{i}", scope) for i, v in enumerate(value)]
    return value
