"""Output contracts of prompt nodes: a node with `output_schema:` (a JSON Schema) asks the model for one
JSON value, and its answer counts only if it parses and validates; the parsed value is the node's output.

The runner appends `schema_instruction(schema)` to the node's system prompt and passes the answer text
to `parse_answer`; an `OutputContractError` fails the attempt (and `retry:` may ask again). Messages
name what is wrong and where, and quote at most ~120 characters of the answer: answers can be long
and are the model's text, not ours to copy into logs and task-run messages.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError, best_match

from flows.errors import NotAJsonValue, OutputContractError

__all__ = ["MAX_ANSWER_CHARS", "MAX_DEPTH", "schema_instruction", "parse_answer", "schema_problem"]

# An answer is a model's completion: far below this in practice. Above it we refuse rather than
# parse and store megabytes that a downstream node would be refused anyway (workflow_max_input_chars).
MAX_ANSWER_CHARS = 1_000_000
# Deeper values would hit Python's recursion limit in the parser, the validator or the JSON writer of
# the run store; no sensible contract nests this deep.
MAX_DEPTH = 200
_QUOTE_START = 60  # characters of the answer quoted at its start …
_QUOTE_NEAR = 50  # … and around a JSON syntax error further in (so at most ~120 in all)
_INT_DIGITS = 4_300  # Python's own default limit on int() of a decimal string
_MESSAGE_CHARS = 300  # a validation message quotes schema values too (enum lists): keep it short

# One surrounding Markdown fence, as models add even when told not to: ```json … ``` or ``` … ```.
_FENCE = re.compile(r"\A```[ \t]*(?:json\b)?[ \t]*\r?\n?(?P<body>.*?)\s*```\Z", re.DOTALL | re.IGNORECASE)


def schema_instruction(schema: dict[str, Any]) -> str:
    """What the runner appends to a prompt node's system prompt (compact: it costs tokens on every call)."""
    return "Answer with one JSON value only, no prose and no code fence, matching this JSON Schema: " + json.dumps(
        schema, separators=(",", ":"), ensure_ascii=False
    )


def schema_problem(schema: Any) -> str | None:
    """Why `schema` is not a valid Draft 2020-12 JSON Schema, or None (for the workflow checks)."""
    if not isinstance(schema, dict | bool):
        return f"output_schema must be a JSON Schema object, not {type(schema).__name__}"
    try:
        _validator(_schema_key(schema))
    except SchemaError as exc:
        where = _json_path(exc.path) if exc.path else "$"
        return f"output_schema is not a valid JSON Schema at {where}: {_shorten(exc.message, _MESSAGE_CHARS)}"
    except (TypeError, ValueError) as exc:  # not JSON at all (a set, a NaN …)
        return f"output_schema is not JSON: {exc}"
    return None


def parse_answer(text: str, schema: dict[str, Any]) -> Any:
    """The JSON value in a model's answer, checked against `schema`; `OutputContractError` if it is not
    JSON (after stripping one surrounding ```json fence and whitespace) or does not match."""
    problem = schema_problem(schema)
    if problem is not None:
        raise OutputContractError(problem)
    body = _unfence(text)
    if not body:
        raise OutputContractError("the answer is empty, not JSON")
    if len(body) > MAX_ANSWER_CHARS:
        raise OutputContractError(
            f"the answer is {len(body):,} characters, above the {MAX_ANSWER_CHARS:,} an output contract reads; "
            f"it starts: {_quote(body, 0, _QUOTE_START)}"
        )
    value = _loads(body)
    if _depth_exceeds(value, MAX_DEPTH):
        raise OutputContractError(_too_deep(body))
    validator = _validator(_schema_key(schema))
    try:
        error = best_match(validator.iter_errors(value))
    except RecursionError:  # a recursive schema ($ref) over a deep value: bounded by MAX_DEPTH, but be sure
        raise OutputContractError(_too_deep(body)) from None
    if error is not None:
        raise OutputContractError(f"the answer does not match output_schema at {error.json_path}: {_describe(error)}")
    return value


def _unfence(text: str) -> str:
    body = text.strip()
    fenced = _FENCE.match(body)
    return fenced.group("body").strip() if fenced else body


def _reject_constant(name: str) -> Any:
    raise NotAJsonValue(f"{name} is not a JSON value")


def _finite_float(literal: str) -> float:
    number = float(literal)
    if not math.isfinite(number):  # 1e999 parses as inf, which JSON cannot say
        raise NotAJsonValue(f"the number {_shorten(literal, 40)} is out of range")
    return number


def _bounded_int(literal: str) -> int:
    if len(literal.lstrip("-")) > _INT_DIGITS:  # Python refuses to convert these anyway, less clearly
        raise NotAJsonValue(f"an integer has {len(literal.lstrip('-')):,} digits, over {_INT_DIGITS:,}")
    return int(literal)


def _loads(body: str) -> Any:
    try:
        return json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_bounded_int)
    except json.JSONDecodeError as exc:
        where = f"{exc.msg} at line {exc.lineno} column {exc.colno}"
        quoted = f"it starts: {_quote(body, 0, _QUOTE_START)}"
        if exc.pos > _QUOTE_START:  # the start alone would not show the mistake
            quoted += f"; near the error: {_quote(body, max(exc.pos - _QUOTE_NEAR // 2, 0), _QUOTE_NEAR)}"
        raise OutputContractError(f"the answer is not JSON ({where}); {quoted}") from None
    except RecursionError:
        raise OutputContractError(_too_deep(body)) from None
    except ValueError as exc:  # NaN/Infinity, numbers out of range, integers with too many digits
        raise OutputContractError(
            f"the answer is not JSON ({_shorten(str(exc), 100)}); it starts: {_quote(body, 0, _QUOTE_START)}"
        ) from None


def _too_deep(body: str) -> str:
    return f"the answer nests deeper than {MAX_DEPTH} levels; it starts: {_quote(body, 0, _QUOTE_START)}"


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether arrays/objects nest more than `limit` deep (iterative: no recursion to blow)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _describe(error: ValidationError) -> str:
    """jsonschema's message, with the offending value shortened (it may be the whole answer)."""
    message = error.message
    shown = repr(error.instance)
    if len(shown) > _QUOTE_START and shown in message:
        message = message.replace(shown, _shorten(shown, _QUOTE_START), 1)
    return _shorten(message, _MESSAGE_CHARS)


def _quote(text: str, start: int, size: int) -> str:
    piece = text[start : start + size]
    return repr(("…" if start > 0 else "") + piece + ("…" if start + size < len(text) else ""))


def _shorten(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def _json_path(path: Any) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _schema_key(schema: Any) -> str:
    # The cache key is the schema's canonical JSON: equal schemas share one checked validator.
    return json.dumps(schema, sort_keys=True, separators=(",", ":"), allow_nan=False)


@lru_cache(maxsize=256)
def _validator(key: str) -> Draft202012Validator:
    schema = json.loads(key)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)
