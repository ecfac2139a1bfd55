"""References in workflow values: `$inputs.NAME`, `$NODE.output`, `$NODE.output.FIELD[.FIELD…]`.

A value that is one whole reference keeps its type; a reference inside a longer string is rendered
as text (JSON for lists and dicts). `$$` is a literal dollar sign.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterator

_REF = re.compile(r"\$\$|\$([A-Za-z_][A-Za-z0-9_-]*)((?:\.[A-Za-z0-9_]+)*)")


class ReferenceSyntaxError(ValueError):
    pass


class ReferenceLookupError(LookupError):
    pass


@dataclass(frozen=True)
class Ref:
    text: str
    node: str | None  # None for $inputs
    path: tuple[str, ...]  # for inputs: (NAME, ...); for nodes: the part after `.output`

    @property
    def is_input(self) -> bool:
        return self.node is None


def _parse(match: re.Match) -> Ref:
    head, tail = match.group(1), match.group(2)
    parts = tuple(p for p in tail.split(".") if p)
    if head == "inputs":
        if not parts:
            raise ReferenceSyntaxError(f"{match.group(0)!r} names no input: use $inputs.NAME")
        return Ref(match.group(0), None, parts)
    if not parts or parts[0] != "output":
        raise ReferenceSyntaxError(
            f"{match.group(0)!r} is not a reference: use ${head}.output or ${head}.output.FIELD"
        )
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


def lookup(ref: Ref, inputs: dict[str, Any], outputs: dict[str, Any]) -> Any:
    if ref.is_input:
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


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


def resolve(value: Any, inputs: dict[str, Any], outputs: dict[str, Any]) -> Any:
    """Replace references with values; whole references keep their type."""
    if isinstance(value, str):
        ref = whole_ref(value)
        if ref is not None:
            return lookup(ref, inputs, outputs)

        def render(match: re.Match) -> str:
            if match.group(0) == "$$":
                return "$"
            return _as_text(lookup(_parse(match), inputs, outputs))

        return _REF.sub(render, value)
    if isinstance(value, dict):
        return {k: resolve(v, inputs, outputs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, inputs, outputs) for v in value]
    return value
