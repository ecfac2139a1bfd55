"""`when:` conditions: a tiny, safe expression language over references.

Grammar (Python syntax, parsed with `ast`, never `eval`): comparisons (== != < <= > >= in, not in),
`and`, `or`, `not`, literals (numbers, strings, true/false/null, lists), references, and `len(x)`.
A condition is at most MAX_WHEN_CHARS long and nested at most MAX_WHEN_DEPTH levels (`not not …`,
`- - 1`, brackets), so neither parsing nor evaluating it can exhaust the stack.
"""

from __future__ import annotations

import ast
import operator
from functools import lru_cache
from typing import Any

from flows.errors import WhenSyntaxError
from flows.refs import _REF, Ref, ReferenceSyntaxError, _parse, lookup

MAX_WHEN_CHARS = 1_000
MAX_WHEN_DEPTH = 64  # syntax-tree levels


_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_NAMES = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}


@lru_cache(maxsize=512)
def compile_when(text: str) -> tuple[ast.Expression, dict[str, Ref]]:
    """Parse and check a condition; returns the tree and its references by placeholder name (cached:
    a fan-out evaluates its `when` once per item, a run every condition once; callers only read)."""
    if len(text) > MAX_WHEN_CHARS:
        raise WhenSyntaxError(
            f"the condition is {len(text):,} characters long, more than the limit of {MAX_WHEN_CHARS:,}"
        )
    refs: dict[str, Ref] = {}

    def placeholder(match) -> str:
        if match.group(0) == "$$":
            raise WhenSyntaxError("`$$` has no meaning in a condition")
        name = f"__ref{len(refs)}"
        refs[name] = _parse(match)
        return name

    try:
        source = _REF.sub(placeholder, text)
    except ReferenceSyntaxError as exc:
        raise WhenSyntaxError(str(exc)) from None
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset is not None else ""
        raise WhenSyntaxError(f"not a valid condition ({exc.msg}{where})") from None
    except ValueError as exc:  # e.g. a NUL character
        raise WhenSyntaxError(f"not a valid condition ({exc})") from None
    except (RecursionError, MemoryError):
        raise WhenSyntaxError(f"the condition is nested more than {MAX_WHEN_DEPTH} levels deep") from None
    _check_depth(tree)
    for node in ast.walk(tree):
        _check(node, refs)
    return tree, refs


def _check_depth(tree: ast.AST) -> None:
    """Iteratively: evaluation recurses once per level, so the levels are bounded first."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_WHEN_DEPTH:
            raise WhenSyntaxError(f"the condition is nested more than {MAX_WHEN_DEPTH} levels deep")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _check(node: ast.AST, refs: dict[str, Ref]) -> None:
    allowed = (
        ast.Expression,
        ast.BoolOp,
        ast.And,
        ast.Or,
        ast.UnaryOp,
        ast.Not,
        ast.USub,
        ast.Compare,
        ast.Constant,
        ast.List,
        ast.Tuple,
        ast.Load,
        ast.Name,
        ast.Call,
        *_COMPARE,
    )
    if not isinstance(node, allowed):
        raise WhenSyntaxError(f"{type(node).__name__} is not allowed in a condition")
    if isinstance(node, ast.Name) and node.id not in refs and node.id not in _NAMES and node.id != "len":
        raise WhenSyntaxError(f"unknown name {node.id!r}: use a reference like $node.output.field, or true/false/null")
    if isinstance(node, ast.Call) and not (
        isinstance(node.func, ast.Name) and node.func.id == "len" and len(node.args) == 1 and not node.keywords
    ):
        raise WhenSyntaxError("the only function allowed in a condition is len(x)")


def evaluate_when(
    text: str, inputs: dict[str, Any], outputs: dict[str, Any], scope: dict[str, Any] | None = None
) -> bool:
    tree, refs = compile_when(text)
    values = {name: lookup(ref, inputs, outputs, scope) for name, ref in refs.items()}
    return bool(_eval(tree.body, values))


def _eval(node: ast.AST, values: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return values[node.id] if node.id in values else _NAMES[node.id]
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(e, values) for e in node.elts]
    if isinstance(node, ast.BoolOp):
        items = (_eval(v, values) for v in node.values)
        return all(items) if isinstance(node.op, ast.And) else any(items)
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, values)
        if isinstance(node.op, ast.Not):
            return not value
        if not isinstance(value, (int, float)):
            raise WhenSyntaxError(f"cannot negate {value!r} ({type(value).__name__}): expected a number")
        return -value
    if isinstance(node, ast.Call):
        value = _eval(node.args[0], values)
        if not isinstance(value, (list, tuple, str, dict)):
            raise WhenSyntaxError(f"len() of {value!r} ({type(value).__name__}): expected a list, text or object")
        return len(value)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, values)
        for op, comparator in zip(node.ops, node.comparators, strict=False):
            right = _eval(comparator, values)
            try:
                if not _COMPARE[type(op)](left, right):
                    return False
            except TypeError as exc:
                raise WhenSyntaxError(f"cannot compare {left!r} with {right!r}: {exc}") from None
            left = right
        return True
    raise WhenSyntaxError(f"{type(node).__name__} is not allowed in a condition")
