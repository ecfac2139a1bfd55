"""The one metadata filter (DESIGN: matrix search and pathway search share it).

A filter is `{key: value}` or `{key: [value, ...]}`: equality per key, a list is OR within its key,
keys are ANDed, and an item without the key never matches. Values compare as a person typing a
filter expects: text matches a number it spells (`"3"` matches `3`; filters from the CLI and query
strings arrive as text), booleans match `true`/`false` in any case but never 1 or 0, and when the
item's own value is a list, any of its elements may match.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from lakehouse.common.errors import KeyValueError
from lakehouse.common.text import key_value
from lakehouse.search.errors import FilterError

T = TypeVar("T")

MetadataFilter = dict[str, Any]  # key -> value, or list of values (OR); keys are ANDed

__all__ = ["MetadataFilter", "as_list", "check_filter", "filter_items", "matches", "parse_pairs", "value_matches"]


def value_matches(have: Any, want: Any) -> bool:
    """One stored value against one wanted value."""
    if isinstance(have, bool) or isinstance(want, bool):  # True must not equal 1
        return str(have).lower() == str(want).lower()
    numbers = (int, float)
    if type(have) is type(want) or (isinstance(have, numbers) and isinstance(want, numbers)):
        return bool(have == want)
    return str(have) == str(want)


def as_list(value: Any) -> list[Any]:
    """A stored or wanted value as the values it stands for (a list is any of its elements)."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def check_filter(where: Mapping[str, Any] | None, name: str = "filter") -> None:
    """Refuse a filter value this filter cannot compare: an object, a nested list, null or an empty
    list matched no row, so a search answered nothing without a word (FilterError names the key)."""
    for key, wanted in (where or {}).items():
        shown = json.dumps(wanted, default=str)
        if isinstance(wanted, (list, tuple)) and not wanted:
            raise FilterError(f"{name} {key!r}: the empty list [] matches no row; give at least one value")
        for value in as_list(wanted):
            if value is None or isinstance(value, (dict, list, tuple)):
                raise FilterError(
                    f"{name} {key!r}: {shown} is not supported: a filter value is a string, number or boolean, "
                    "or a list of them (any of them matches)"
                )


def matches(metadata: Mapping[str, Any], where: Mapping[str, Any] | None) -> bool:
    """True when `metadata` passes every key of `where` (an empty or missing filter passes all)."""
    for key, wanted in (where or {}).items():
        if key not in metadata:
            return False
        have = as_list(metadata[key])
        if not any(value_matches(h, w) for w in as_list(wanted) for h in have):
            return False
    return True


def filter_items(
    items: Iterable[T], where: Mapping[str, Any] | None, metadata: Callable[[T], Mapping[str, Any]]
) -> tuple[list[T], int]:
    """(the items that pass, in order; how many were dropped)."""
    items = list(items)
    if not where:
        return items, 0
    kept = [item for item in items if matches(metadata(item), where)]
    return kept, len(items) - len(kept)


def parse_pairs(pairs: Iterable[str], flag: str = "--filter") -> MetadataFilter | None:
    """`KEY=VALUE` pairs as a filter, the same from every surface (the CLI's repeated `--filter`, the
    console's `key=value; key=value`): a repeated key is OR, keys are ANDed; a VALUE that reads as
    JSON keeps its type (`floor=3`; a list `state=["IL","WI"]` is OR too), any other is text.
    None when there are no pairs. FilterError names the pair that is not KEY=VALUE."""
    flt: dict[str, list[Any]] = {}
    for pair in pairs:
        try:
            key, value = key_value(pair, strip=True)
        except KeyValueError:
            raise FilterError(f"{flag} {pair.strip()!r}: expected KEY=VALUE (e.g. group=29-2)".lstrip()) from None
        flt.setdefault(key, []).extend(value if isinstance(value, list) else [value])
    return {key: values[0] if len(values) == 1 else values for key, values in flt.items()} or None
