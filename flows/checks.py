"""Static checks of one node: its `with` values against the mode's input model, and its references
against the graph and the producers' output models."""

from __future__ import annotations

import typing
from functools import lru_cache
from typing import Any, Iterator

from pydantic import BaseModel, TypeAdapter, ValidationError

from flows.refs import ReferenceSyntaxError, find_refs
from flows.spec import InputSpec, NodeSpec
from lakehouse.suggest import did_you_mean


def suggest(word: str, choices) -> str:
    """The workflow checks' hint: at most two close names."""
    return did_you_mean(word, choices, n=2, cutoff=0.6)


def _has_refs(value: Any) -> bool:
    try:
        return next(find_refs(value), None) is not None
    except ReferenceSyntaxError:
        return True  # reported by check_refs


@lru_cache(maxsize=None)
def _field_adapter(model: type[BaseModel], name: str) -> TypeAdapter:
    field = model.model_fields[name]
    return TypeAdapter(typing.Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation)


def check_node_payload(model: type[BaseModel], payload: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for unknown, missing and ill-typed `with` values (references are skipped)."""
    problems: list[tuple[str, str]] = []
    fields = model.model_fields
    forbid = model.model_config.get("extra") == "forbid"
    for key in payload:
        if key not in fields and forbid:
            problems.append((f"with.{key}", f"unknown field {key!r} for this mode{suggest(key, fields)}"
                             f" (fields: {', '.join(fields)})"))
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
        try:
            _field_adapter(model, key).validate_python(value)
        except ValidationError as exc:
            err = exc.errors()[0]
            problems.append((f"with.{key}", f"{err['msg']} (got {value!r})"))
    if literal_only and not problems:
        try:  # model-level rules (e.g. "exactly one of prompt or messages")
            model.model_validate(payload)
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"])
                problems.append((f"with.{loc}" if loc else "with", err["msg"]))
    return problems


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated so a field's model or list type can be walked."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else annotation
    return annotation


def _walk_output(model: type[BaseModel], path: tuple[str, ...]) -> str | None:
    """None if the path exists in the output model (as far as types tell), else the problem."""
    current: Any = model
    walked = "output"
    for part in path:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            if part not in current.model_fields:
                return (f"{walked} has no field {part!r}{suggest(part, current.model_fields)}"
                        f" (fields: {', '.join(current.model_fields)})")
            current = current.model_fields[part].annotation
        elif typing.get_origin(current) in (list, tuple) and part.isdigit():
            args = typing.get_args(current)
            current = args[0] if args else Any
        else:
            return None  # dict, Any, …: the shape is only known at run time
        walked = f"{walked}.{part}"
    return None


def check_refs(
    value: Any,
    declared_inputs: dict[str, InputSpec],
    nodes: dict[str, NodeSpec],
    ancestors: set[str],
    output_models: dict[str, type[BaseModel]],
    node_id: str,
) -> Iterator[str]:
    try:
        refs = list(find_refs(value))
    except ReferenceSyntaxError as exc:
        yield f"bad reference: {exc}"
        return
    for ref in refs:
        if ref.is_input:
            name = ref.path[0]
            if name not in declared_inputs:
                yield (f"{ref.text} refers to undeclared input {name!r}{suggest(name, declared_inputs)}"
                       f" (declared: {', '.join(declared_inputs) or 'none'})")
        elif ref.node not in nodes:
            yield f"{ref.text} refers to unknown node {ref.node!r}{suggest(ref.node, nodes)}"
        elif ref.node == node_id:
            yield f"{ref.text} refers to the node itself"
        elif ref.node not in ancestors:
            yield (f"{ref.text} refers to node {ref.node!r}, which is not upstream of {node_id!r}: "
                   f"add it to depends_on")
        elif ref.node in output_models:
            problem = _walk_output(output_models[ref.node], ref.path)
            if problem:
                yield f"{ref.text}: {ref.node}.{problem}"
