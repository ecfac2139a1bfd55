"""Comparing texts as a person would."""

from __future__ import annotations

import json
import re
from typing import Any

from lakehouse.common.errors import BlankText, JsonNestedTooDeep, KeyValueError

# How deeply lists and objects may nest in what callers send (request bodies, ingested values):
# pydantic serializes at most 255 levels, pyiceberg's schema conversion recurses per level, and
# Arrow's JSON reader overflows the C stack a few ten thousand levels down.
MAX_JSON_DEPTH = 64


def fold(text: str) -> str:
    """Case and runs of whitespace do not count: the key under which two queries are the same."""
    return " ".join(text.casefold().split())


def is_blank(text: str) -> bool:
    """No character a person would read: spaces, zero-width spaces and control characters alone are
    blank (a query of them matched whatever happened to be nearest, and voted so)."""
    return not any(ch.isprintable() and not ch.isspace() for ch in text)


def not_blank(value: str) -> str:
    """A pydantic validator: refuses blank text (a ValueError: pydantic makes it the field's error)."""
    if is_blank(value):
        raise BlankText("must not be blank")
    return value


def loads_json(text: str | bytes) -> Any:
    """`json.loads`, but a value nested deeper than Python's recursion limit raises
    `JsonNestedTooDeep` (a JSONDecodeError: "nested too deeply"), never a RecursionError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise JsonNestedTooDeep(text if isinstance(text, str) else text.decode("utf-8", "replace")) from None


# A JSON string, escapes and all. One never left open: a quote no quote closes runs to the end of the
# text, as a parser reads it (it never recurses past where it fails). Possessive, so a failed match
# is never retried from a later quote: `"\"\"\"...` took time quadratic in its length (80 KB: 27 s).
JSON_STRING = r'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)'
_STRING = re.compile(JSON_STRING, re.DOTALL)
_CHUNK = 1 << 22


def bracket_depth(text: str) -> int:
    """The deepest the brackets outside strings go in JSON text, valid or not, without parsing it
    (a parser recurses per level: Arrow's overflows the C stack, Python's stops at its limit).
    Linear in the text's length, and counted by numpy: a 50 MB line takes a second, not a minute."""
    import numpy as np  # not at import: the CLI's `--help` path imports this module

    openers, closers = np.frombuffer(b"[{", np.uint8), np.frombuffer(b"]}", np.uint8)
    data = np.frombuffer(_STRING.sub("", text).encode("utf-8", "surrogatepass"), np.uint8)
    depth = deepest = 0
    for start in range(0, len(data), _CHUNK):
        chunk = data[start : start + _CHUNK]
        steps = np.isin(chunk, openers).astype(np.int64) - np.isin(chunk, closers)
        levels = np.cumsum(steps)
        deepest = max(deepest, depth + int(levels.max()))
        depth += int(levels[-1])
    return deepest


def json_depth(value: Any) -> int:
    """Levels of lists and objects in a parsed JSON value (0 for a scalar), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            level += 1
            deepest = max(deepest, level)
            stack.extend((child, level) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def deepest_field(value: Any) -> str:
    """The dotted keys down to the deepest point of a parsed JSON value, up to its first list
    (`inputs.x` for `{"inputs": {"x": [[[...]]]}}`); "" when the value itself is that list."""
    deepest = -1
    found: tuple[Any, ...] = ()
    stack: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if len(path) > deepest:
            deepest, found = len(path), path
        if isinstance(item, dict):
            stack.extend((child, (*path, key)) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((child, (*path, index)) for index, child in enumerate(item))
    keys: list[str] = []
    for part in found:
        if isinstance(part, int):
            break
        keys.append(str(part))
    return ".".join(keys)


def key_value(pair: str, strip: bool = False) -> tuple[str, Any]:
    """`KEY=VALUE` as (KEY, VALUE): a VALUE that reads as JSON keeps its type (`n=3`, `tags=["a"]`),
    any other is the text (with `strip`, the key and such a text lose their outer spaces).
    KeyValueError when there is no `=` or no key."""
    key, sep, raw = pair.partition("=")
    if not sep or not key.strip():
        raise KeyValueError(f"{pair!r}: expected KEY=VALUE")
    try:
        value = loads_json(raw)
    except json.JSONDecodeError:
        value = raw.strip() if strip else raw
    return (key.strip() if strip else key), value
