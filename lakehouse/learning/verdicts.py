"""One rule for a pair rated more than once: the newest verdict of a (query, corpus, id) pair is
the pair's verdict. `adapt` trains on it; distillation exports and `drift playbook` checks only
what it keeps, so a match rated good, then wrong, is no gold example and no drifted match."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from datetime import UTC, datetime
from typing import TypeVar

from lakehouse.common.text import fold

T = TypeVar("T")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def newest_only(
    items: Iterable[T], key: Callable[[T], Hashable | None], when: Callable[[T], datetime | None]
) -> tuple[list[T], int]:
    """`items` (in the order recorded) less those a newer item of the same key supersedes, and how
    many were left out. An item whose key is None is no rating and always kept. Of two with one
    key the later in time wins; with a time missing or equal, the later recorded wins, as in adapt
    (`adapt.recorded_pairs`: a historical import dated before a rating does not overrule it)."""
    listed = list(items)
    newest: dict[Hashable, int] = {}
    for position, item in enumerate(listed):
        pair = key(item)
        if pair is None:
            continue
        kept = newest.get(pair)
        if kept is not None:
            old, new = when(listed[kept]), when(item)
            if old is not None and new is not None and _aware(new) < _aware(old):
                continue
        newest[pair] = position
    winners = set(newest.values())
    kept_items = [item for position, item in enumerate(listed) if key(item) is None or position in winners]
    return kept_items, len(listed) - len(kept_items)


def pair_key(query: str, corpus: str | None, answer: str) -> tuple[str, str | None, str]:
    """The pair a verdict is about: the query folded (case and spacing do not count), the corpus
    and the answer's id exactly."""
    return fold(query), corpus, answer


def overruled_good(
    items: Iterable[T],
    key: Callable[[T], Hashable | None],
    when: Callable[[T], datetime | None],
    good: Callable[[T], bool],
) -> int:
    """How many pairs were rated good once and have a newer verdict that is not good (what
    `newest_only` leaves out of what is trained on or exported as a match)."""
    listed = list(items)
    newest, _ = newest_only(listed, key, when)
    once_good = {key(item) for item in listed if good(item)}
    return sum(1 for item in newest if key(item) is not None and not good(item) and key(item) in once_good)
