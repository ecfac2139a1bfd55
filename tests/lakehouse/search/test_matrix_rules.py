"""The matrix rules on their own: metadata filter, relevance filter, downgrade gate."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lakehouse.config import ModelsSettings, Settings
from lakehouse.search.matrix import (
    Hit,
    downgrade_gate,
    metadata_filter,
    relevance_filter,
)


def hit(i, score=0.5, boost=0.0, **metadata):
    return Hit(
        corpus="c", id=str(i), text="", score=score, distance=1 - score, metadata=metadata, raw_score=score, boost=boost
    )


def test_equality_list_or_and_missing_keys():
    hits = [hit(1, state="IL", shift="night"), hit(2, state="WI"), hit(3, state="IN", shift="night"), hit(4)]
    assert [h.id for h in metadata_filter(hits, {"state": "IL"})[0]] == ["1"]
    assert [h.id for h in metadata_filter(hits, {"state": ["IL", "WI"]})[0]] == ["1", "2"]
    kept, dropped = metadata_filter(hits, {"state": ["IL", "IN", "WI"], "shift": "night"})
    assert [h.id for h in kept] == ["1", "3"] and dropped == 2
    assert metadata_filter(hits, None) == (hits, 0) and metadata_filter(hits, {}) == (hits, 0)


def test_text_filters_match_numbers_and_booleans():
    hits = [hit(1, floor=3, union=True), hit(2, floor="3", union=False)]
    assert [h.id for h in metadata_filter(hits, {"floor": "3"})[0]] == ["1", "2"]
    assert [h.id for h in metadata_filter(hits, {"union": "true"})[0]] == ["1"]
    assert [h.id for h in metadata_filter(hits, {"floor": 3})[0]] == ["1", "2"]
    assert metadata_filter([hit(1, floor=1)], {"floor": True}) == ([], 1)  # True is not 1


values = st.sampled_from(["IL", "WI", "IN", 1, 2, True])
metadata = st.dictionaries(st.sampled_from(["state", "shift", "level"]), values, max_size=3)
filters = st.dictionaries(
    st.sampled_from(["state", "shift", "level"]),
    st.one_of(values, st.lists(values, min_size=1, max_size=3)),
    max_size=3,
)


@settings(max_examples=400)
@given(st.lists(metadata, max_size=30), filters)
def test_filter_property_partitions_and_every_kept_hit_satisfies_every_key(metas, flt):
    hits = [hit(i, **m) for i, m in enumerate(metas)]
    kept, dropped = metadata_filter(hits, flt)
    assert len(kept) + dropped == len(hits)
    assert [h.id for h in kept] == [h.id for h in hits if h in kept]  # order kept
    for h in hits:
        ok = all(
            key in h.metadata
            and any(
                str(h.metadata[key]).lower() == str(v).lower() for v in (want if isinstance(want, list) else [want])
            )
            for key, want in flt.items()
        )
        assert (h in kept) == ok


def test_relevance_threshold_margin_and_playbook_lifted_hits():
    hits = [hit(1, 0.8), hit(2, 0.6), hit(3, 0.5), hit(4, 0.2), hit(5, 0.1, boost=0.5)]
    kept, dropped = relevance_filter(hits, threshold=0.25, margin=0.25)
    assert [h.id for h in kept] == ["1", "2", "5"] and dropped == 2  # 3 is too far behind, 4 below the floor
    assert relevance_filter([], 0.25, 0.25) == ([], 0)
    kept, _ = relevance_filter(hits, threshold=0.0, margin=2.0)
    assert len(kept) == 5


@given(
    st.lists(st.floats(min_value=-1, max_value=1), min_size=1, max_size=20),
    st.floats(min_value=-1, max_value=1),
    st.floats(min_value=0, max_value=2),
)
def test_relevance_property_best_hit_survives_unless_below_threshold(scores, threshold, margin):
    hits = [hit(i, s) for i, s in enumerate(scores)]
    kept, dropped = relevance_filter(hits, threshold, margin)
    assert len(kept) + dropped == len(hits)
    best = max(scores)
    assert all(h.score >= threshold and h.score >= best - margin for h in kept)
    assert (best >= threshold) == any(h.score == best for h in kept)


def test_downgrade_gate_decisions_and_reasons():
    gate_settings = Settings(models=ModelsSettings(weak_models=["small-model"]))
    assert downgrade_gate(["a"], "big", gate_settings).reason == "a single corpus: nothing to compose"
    strong = downgrade_gate(["a", "b", "a"], "big", gate_settings)
    assert (strong.mode, strong.corpora) == ("isolation", ["a"]) and "'big' is not in weak_models" in strong.reason
    forced = downgrade_gate(["a", "b"], "big", gate_settings, force_mode=True)
    assert (forced.mode, forced.corpora, forced.forced) == ("composed", ["a", "b"], True)
    weak = downgrade_gate(["a", "b"], "small-model", gate_settings)
    assert weak.mode == "composed" and not weak.forced
    assert downgrade_gate(["a", "b"], None, gate_settings).mode == "composed"
