"""`lakehouse modes list|show`: the mode catalog."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from flows.cli.common import LakehouseGroup, console, plain, print_json

modes_app = typer.Typer(cls=LakehouseGroup, help="The catalog of modes a workflow node can run.", no_args_is_help=True)


@modes_app.command("list")
def list_modes(json_out: bool = typer.Option(False, "--json", help="Print a JSON list.")) -> None:
    """Every registered mode with its description."""
    from modes.registry import all_modes

    rows = [{"name": s.name, "description": s.description} for s in all_modes().values()]
    if json_out:
        print_json(rows)
        return
    table = Table(title="modes")
    table.add_column("mode")
    table.add_column("description", overflow="fold")
    for row in rows:
        table.add_row(row["name"], row["description"])
    console.print(table)


@modes_app.command("show")
def show(
    name: str = typer.Argument(..., help="Mode name, e.g. matrix.search."),
    json_out: bool = typer.Option(False, "--json", help="Print the input and output JSON schemas."),
) -> None:
    """A mode's input (`with:`) and output (`$node.output`) fields; --json for the JSON schemas."""
    from modes.registry import get_mode

    spec = get_mode(name)  # unknown: the one CLI error policy (exit 1, with the close matches)
    data: dict[str, Any] = {
        "name": spec.name,
        "description": spec.description,
        "input": spec.input_model.model_json_schema(),
        "output": spec.output_model.model_json_schema(),
    }
    if json_out:
        print_json(data)
        return
    console.print(f"{spec.name}: {spec.description}", markup=False, highlight=False)
    shown: dict[str, dict] = {}
    for part in ("input", "output"):
        schema = data[part]
        console.print(_fields_table(f"{part} ({'with:' if part == 'input' else '$node.output'})", schema))
        shown |= schema.get("$defs", {})
    # the parts a field's type names (`hits: array[Hit]`): what `$node.output.hits.0.FIELD` may name
    for name, schema in shown.items():
        if "properties" in schema:
            console.print(_fields_table(name, schema))


def _fields_table(title: str, schema: dict) -> Table:
    """One row per field: its type, whether it is required, its default and its limits (a `with:`
    value past them fails the node; they were shown only in --json)."""
    required = set(schema.get("required", []))
    table = Table(title=title, title_justify="left")
    for column in ("field", "type", "required", "default", "limits", "description"):
        table.add_column(column, overflow="fold")
    for field, prop in schema.get("properties", {}).items():
        default = prop.get("default")
        table.add_row(
            plain(field),
            plain(_type_of(prop)),
            "yes" if field in required else "",
            "" if field in required or default is None else plain(json.dumps(default)),
            plain(_limits(prop)),
            plain(prop.get("description", "")),
        )
    return table


_BOUNDS = (
    ("minimum", ">= {}"),
    ("exclusiveMinimum", "> {}"),
    ("maximum", "<= {}"),
    ("exclusiveMaximum", "< {}"),
    ("minLength", "length >= {}"),
    ("maxLength", "length <= {}"),
    ("minItems", "items >= {}"),
    ("maxItems", "items <= {}"),
)


def _limits(prop: dict) -> str:
    options = [prop, *(prop.get("anyOf") or [])]
    limits = [text.format(option[key]) for option in options for key, text in _BOUNDS if key in option]
    choices = [value for option in options for value in option.get("enum", [])]
    if choices:
        limits.append("one of " + ", ".join(json.dumps(value) for value in choices))
    return ", ".join(limits)


def _type_of(prop: dict) -> str:
    if "type" in prop:
        inner = prop.get("items", {})
        return f"{prop['type']}[{_type_of(inner)}]" if prop["type"] == "array" and inner else str(prop["type"])
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    options = prop.get("anyOf") or prop.get("oneOf") or []
    return " | ".join(_type_of(o) for o in options) or "any"


def register(app: typer.Typer) -> None:
    app.add_typer(modes_app, name="modes")
