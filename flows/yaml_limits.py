"""The limits a workflow's YAML text must keep before it is parsed into values.

libyaml's safe loader (`SafeLoader`, when present: the same safe subset as yaml.safe_load, ~20x
faster) composes on the C stack, so 50,000 nested levels crash the process. Every text is first
scanned here as an event stream, iteratively, for size, depth, aliases, the number of values and
keys that are not text or come twice; the loader (flows/loader.py) parses only what passed.
"""

from __future__ import annotations

import yaml

from lakehouse.config import get_settings

SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def too_big(limit: int) -> str:
    return f"the workflow file is larger than the limit of {limit:,} bytes (setting workflow_max_bytes)"


def _at(event: yaml.Event) -> str:
    mark = event.start_mark
    return f"line {mark.line + 1}, column {mark.column + 1}"


_OPEN = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_CLOSE = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


_RESOLVER = yaml.resolver.Resolver()  # how the safe loader reads a plain scalar (`yes` is a bool)
_KINDS = {"int": "an integer", "float": "a number", "bool": "a boolean", "null": "null", "timestamp": "a date"}


def _key_problem(event: yaml.ScalarEvent, keys: set[str]) -> str | None:
    """Why a mapping key is refused: a key that YAML reads as other than text (`1`, `~`, `yes`:
    values are JSON, whose keys are text, and `yes` and `true` would become one key), or one given
    twice (YAML would keep the last, so the first would vanish unseen)."""
    tag = event.tag or _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)
    if tag == "!":  # the non-specific tag: read as if plain (the C loader makes `! 7` the integer 7)
        tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, (True, False))
    if tag != "tag:yaml.org,2002:str":
        kind = tag.rsplit(":", 1)[-1]
        return (
            f"the key {event.value!r} at {_at(event)} reads as {_KINDS.get(kind, kind)}, not text: quote it "
            f'("{event.value}": ...); keys are text'
        )
    if event.value in keys:
        return f"the key {event.value!r} appears twice in one mapping at {_at(event)}: YAML would keep the last"
    return None


def yaml_limits(text: str) -> str | None:
    """The first limit the YAML text breaks, or None; raises yaml.YAMLError on bad syntax.

    The size is checked before anything is parsed; nesting depth, alias uses, recursive aliases,
    the number of values (aliases expanded, so a "billion laughs" file is refused, never expanded)
    and a key given twice in one mapping (YAML keeps the last, so the first would vanish unseen)
    while the parser's events stream by. Iterative, and it stops at the first problem: a file
    nested 50,000 deep costs the first 65 levels.
    """
    settings = get_settings()
    limit = settings.workflow_max_bytes
    if len(text) > limit or (len(text) * 4 > limit and len(text.encode("utf-8", "surrogatepass")) > limit):
        return too_big(limit)
    max_depth, max_aliases = settings.workflow_max_depth, settings.workflow_max_aliases
    max_values = settings.workflow_max_values
    open_nodes: list[tuple[str | None, int]] = []  # (anchor, value count when it opened)
    sizes: dict[str, int] = {}  # anchor -> values it stands for, its own aliases expanded
    mappings: list[tuple[set[str], list[bool]] | None] = []  # per open node: (keys seen, [next is a key])
    values = aliases = 0
    for event in yaml.parse(text, Loader=SafeLoader):
        if isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent, *_OPEN)) and mappings and mappings[-1]:
            keys, next_is_key = mappings[-1]
            if next_is_key[0] and not isinstance(event, yaml.ScalarEvent):
                return f"a list, mapping or alias as a key at {_at(event)}: keys are text"
            if next_is_key[0] and event.value != "<<":
                problem = _key_problem(event, keys)
                if problem:
                    return problem
                keys.add(event.value)
            next_is_key[0] = not next_is_key[0]
        if isinstance(event, _OPEN):
            mappings.append((set(), [True]) if isinstance(event, yaml.MappingStartEvent) else None)
        elif isinstance(event, _CLOSE):
            mappings.pop()
        if isinstance(event, yaml.ScalarEvent):
            values += 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif isinstance(event, _OPEN):
            values += 1
            open_nodes.append((event.anchor, values))
            if len(open_nodes) > max_depth:
                return f"YAML nested deeper than {max_depth} levels at {_at(event)} (setting workflow_max_depth)"
        elif isinstance(event, _CLOSE):
            anchor, opened = open_nodes.pop()
            if anchor is not None:
                sizes[anchor] = values - opened + 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > max_aliases:
                return (
                    f"YAML uses more than {max_aliases} aliases (*name) at {_at(event)} (setting workflow_max_aliases)"
                )
            if any(anchor == event.anchor for anchor, _ in open_nodes):
                return f"recursive YAML alias *{event.anchor} at {_at(event)}: a value cannot contain itself"
            values += sizes.get(event.anchor, 1)
        else:
            continue
        if values > max_values:
            return (
                f"the YAML holds more than {max_values:,} values, aliases expanded, at {_at(event)} "
                f"(setting workflow_max_values)"
            )
    return None
