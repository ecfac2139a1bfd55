"""What a node's output looks like, as far as the checks can tell before anything runs.

A shape is a pydantic model or other annotation (mode nodes, prompt nodes without a schema,
approval gates), a JSON Schema (prompt nodes with `output_schema`), the outputs of a sub-workflow's
nodes by id (workflow nodes), or a list of one of these (fan-out nodes). None means "unknown": any
path is accepted and checked at run time.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, RootModel

from lakehouse.common.suggest import did_you_mean


@dataclass(frozen=True)
class PyShape:
    annotation: Any


@dataclass(frozen=True)
class SchemaShape:
    schema: Any  # a JSON Schema (a dict, or true/false)


@dataclass(frozen=True)
class ChildrenShape:
    workflow: str
    children: dict[str, Shape | None]


@dataclass(frozen=True)
class ListShape:
    item: Shape | None
    why: str = "one output per for_each item"


Shape = PyShape | SchemaShape | ChildrenShape | ListShape


def _suggest(word: str, choices) -> str:
    return did_you_mean(word, choices, n=2, cutoff=0.6)


def unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated (and a RootModel's wrapper) so a field's model or list type can be walked."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return unwrap(args[0]) if len(args) == 1 else annotation
    if isinstance(annotation, type) and issubclass(annotation, RootModel):
        return unwrap(annotation.model_fields["root"].annotation)  # a substrate type as a mode output
    return annotation


def fields_of(tp: Any) -> dict[str, Any] | None:
    """Field name -> annotation of a pydantic model or a dataclass (substrate types in outputs)."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return {name: f.annotation for name, f in tp.model_fields.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return typing.get_type_hints(tp)
    return None


_SEQUENCES = (list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.Set)


def _py_step(annotation: Any, part: str, walked: str) -> tuple[str | None, Shape | None, bool]:
    """(problem, next shape, known) for one path part into an annotation."""
    current = unwrap(annotation)
    fields = fields_of(current)
    if fields is not None:
        if part not in fields:
            return f"{walked} has no field {part!r}{_suggest(part, fields)} (fields: {', '.join(fields)})", None, True
        return None, PyShape(fields[part]), True
    if typing.get_origin(current) in (list, tuple) and part.isdigit():
        args = typing.get_args(current)
        return None, PyShape(args[0] if args else Any), True
    return None, None, False  # dict, Any, …: the shape is only known at run time


def _schema_types(schema: dict) -> set[str] | None:
    kind = schema.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list) and all(isinstance(k, str) for k in kind):
        return set(kind)
    return None


def _schema_step(schema: Any, part: str, walked: str) -> tuple[str | None, Shape | None, bool]:
    if not isinstance(schema, dict):
        return None, None, False
    kinds = _schema_types(schema)
    props = schema.get("properties")
    if isinstance(props, dict) and part in props:
        return None, SchemaShape(props[part]), True
    if part.isdigit() and (kinds is None or "array" in kinds):
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list) and int(part) < len(prefix):
            return None, SchemaShape(prefix[int(part)]), True
        items = schema.get("items")
        return None, (SchemaShape(items) if isinstance(items, dict) else None), isinstance(items, dict)
    if kinds is not None and "object" not in kinds:
        return f"{walked} is {' or '.join(sorted(kinds))} in the output_schema: it has no field {part!r}", None, True
    # Declared properties and no explicit room for others: a name outside them is a mistake.
    extra = schema.get("additionalProperties")
    open_ended = (extra is not None and extra is not False) or "patternProperties" in schema
    if isinstance(props, dict) and props and not open_ended:
        return (
            (
                f"{walked} has no property {part!r} in the output_schema{_suggest(part, props)}"
                f" (properties: {', '.join(map(str, props))})"
            ),
            None,
            True,
        )
    return None, None, False


def walk(shape: Shape | None, path: tuple[str, ...], walked: str = "output") -> tuple[str | None, Shape | None]:
    """(problem, the shape at the end of the path). The problem is None when the path may exist;
    the shape is None when it is not known."""
    for part in path:
        if shape is None:
            return None, None
        if isinstance(shape, PyShape):
            problem, shape, known = _py_step(shape.annotation, part, walked)
        elif isinstance(shape, SchemaShape):
            problem, shape, known = _schema_step(shape.schema, part, walked)
        elif isinstance(shape, ListShape):
            if not part.isdigit():
                return f"{walked} is a list ({shape.why}): {part!r} is not an index", None
            problem, shape, known = None, shape.item, True
        else:  # ChildrenShape
            if part not in shape.children:
                return (
                    f"{walked} has no node {part!r} of sub-workflow {shape.workflow!r}"
                    f"{_suggest(part, shape.children)} (nodes: {', '.join(shape.children)})"
                ), None
            problem, shape, known = None, shape.children[part], True
        if problem or not known:
            return problem, None
        walked = f"{walked}.{part}"
    return None, shape


def type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def list_problem(shape: Shape | None) -> str | None:
    """Why a value of this shape is certainly not a list ("a str", …), or None (a list, or unknown)."""
    if shape is None or isinstance(shape, ListShape):
        return None
    if isinstance(shape, ChildrenShape):
        return "a mapping of the sub-workflow's node outputs"
    if isinstance(shape, SchemaShape):
        kinds = _schema_types(shape.schema) if isinstance(shape.schema, dict) else None
        if kinds is None or "array" in kinds:
            return None
        return f"{' or '.join(sorted(kinds))} in the output_schema"
    current = unwrap(shape.annotation)
    origin = typing.get_origin(current) or current
    if isinstance(origin, type) and issubclass(origin, _SEQUENCES) and origin not in (str, bytes):
        return None
    if origin in (str, bytes, int, float, bool, dict) or fields_of(current) is not None:
        return f"a {type_name(current)}"
    return None


def item_shape(shape: Shape | None) -> Shape | None:
    """The shape of one item of a list of this shape (for `$item`)."""
    if isinstance(shape, ListShape):
        return shape.item
    if isinstance(shape, SchemaShape) and isinstance(shape.schema, dict):
        items = shape.schema.get("items")
        return SchemaShape(items) if isinstance(items, dict) else None
    if isinstance(shape, PyShape):
        current = unwrap(shape.annotation)
        if typing.get_origin(current) in (list, tuple, set, frozenset):
            args = typing.get_args(current)
            return PyShape(args[0]) if args else None
    return None
