"""The one metadata filter, shared by matrix search and pathway search (DESIGN: equality; a list is
OR within a key; keys are ANDed)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lakehouse.learning import pathway
from lakehouse.search import matrix
from lakehouse.search.errors import FilterError
from lakehouse.search.filters import filter_items, matches, parse_pairs, value_matches


@pytest.mark.parametrize(
    ("metadata", "where", "expected"),
    [
        ({"state": "IL"}, {"state": "IL"}, True),
        ({"state": "IL"}, {"state": ["WI", "IL"]}, True),  # a list is OR within its key
        ({"state": "IL", "shift": "day"}, {"state": "IL", "shift": "night"}, False),  # keys are ANDed
        ({}, {"state": "IL"}, False),  # a missing key never matches
        ({"state": None}, {"state": None}, True),
        ({"floor": 3}, {"floor": "3"}, True),  # text from the CLI matches the number it spells
        ({"union": True}, {"union": "true"}, True),
        ({"union": True}, {"union": 1}, False),  # True is not 1
        ({"skills": ["forklift", "cdl"]}, {"skills": "cdl"}, True),  # a list value: any element
        ({"state": "IL"}, {}, True),
        ({"state": "IL"}, None, True),
    ],
)
def test_shared_rules(metadata, where, expected):
    assert matches(metadata, where) is expected


def test_matrix_and_pathway_use_the_same_rules():
    """They used to differ: pathway matched True against 1 and never matched "3" against 3."""
    assert pathway.matches is matches
    hit = matrix.Hit(corpus="c", id="1", text="", score=1, distance=0, metadata={"floor": 3, "union": True})
    assert matrix.metadata_filter([hit], {"floor": "3"}) == ([hit], 0)
    assert matrix.metadata_filter([hit], {"union": 1}) == ([], 1)


def test_filter_items_keeps_order_and_counts_the_dropped():
    items = [{"s": "IL"}, {"s": "WI"}, {"s": "IL"}, {}]
    assert filter_items(items, {"s": "IL"}, lambda m: m) == ([items[0], items[2]], 2)
    assert filter_items(items, None, lambda m: m) == (items, 0)


values = st.sampled_from(["IL", "WI", 1, 2, True, "1"])


@given(
    st.dictionaries(st.sampled_from("abc"), st.one_of(values, st.lists(values, max_size=3))),
    st.dictionaries(st.sampled_from("abc"), st.one_of(values, st.lists(values, min_size=1, max_size=3))),
)
def test_an_and_of_ors(metadata, where):
    def one(key, want):
        have = metadata[key] if isinstance(metadata[key], list) else [metadata[key]]
        return any(value_matches(h, w) for h in have for w in (want if isinstance(want, list) else [want]))

    assert matches(metadata, where) is all(key in metadata and one(key, want) for key, want in where.items())


def test_pairs_read_the_same_on_every_surface():
    pairs = ["state=IL", "state=WI", "floor=3", "name= Ana ", 'shift=["day","night"]', "union=true", "note="]
    assert parse_pairs(pairs) == {
        "state": ["IL", "WI"],  # a repeated key is OR
        "floor": 3,  # JSON keeps its type
        "name": "Ana",
        "shift": ["day", "night"],
        "union": True,
        "note": "",
    }
    assert parse_pairs([]) is None


@pytest.mark.parametrize("pair", ["state", "=IL", " = IL", ""])
def test_a_pair_without_a_key_is_named(pair):
    with pytest.raises(FilterError, match=r"--filter '.*': expected KEY=VALUE \(e.g. group=29-2\)"):
        parse_pairs(["state=IL", pair])


TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="="), min_size=1, max_size=8)


@given(st.dictionaries(TEXT.filter(lambda k: k.strip() == k and k.strip()), st.lists(TEXT, min_size=1, max_size=3)))
def test_pairs_round_trip_text_values_as_or_lists(wanted):
    """Rendered as repeated KEY=VALUE pairs, a filter of text values reads back as itself (values
    that read as JSON keep their JSON type instead, as on the CLI)."""

    def reads_as_json(value):
        try:
            json.loads(value)
        except json.JSONDecodeError:
            return False
        return True

    plain = {k: vs for k, vs in wanted.items() if not any(reads_as_json(v) for v in vs)}
    parsed = parse_pairs(f"{k}={v}" for k, vs in plain.items() for v in vs)
    assert parsed == (
        {k: vs[0].strip() if len(vs) == 1 else [v.strip() for v in vs] for k, vs in plain.items()} or None
    )
