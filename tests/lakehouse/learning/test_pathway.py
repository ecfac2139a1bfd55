"""Pathway memory: the event log, versions, revise chains, search, and the log's repair rules."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from lakehouse.learning.pathway import (
    PathwayError,
    PathwayMemory,
    TraceNotFound,
    matches,
)


def bag_of_words(texts):
    """Deterministic hashed bag-of-words vectors: shared words make texts similar."""
    out = np.zeros((len(texts), 64), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in text.lower().split():
            out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % 64] += 1
    return out


@pytest.fixture
def memory(tmp_path):
    return PathwayMemory(tmp_path / "pathway.jsonl", embed=bag_of_words)


def test_add_get_update_and_reopen(memory):
    trace = memory.add("match nurses in Chicago", {"team": "health"}, trace_id="t1")
    assert trace.version == 1 and trace.status == "active"
    updated = memory.update("t1", metadata={"owner": "ana"})
    assert updated.metadata == {"team": "health", "owner": "ana"} and updated.version == 1
    reopened = PathwayMemory(memory.path)
    assert reopened.get("t1").model_dump() == updated.model_dump()
    assert reopened.problems == []


def test_a_revise_chain_of_three_is_walked_backwards(memory):
    first = memory.add("v1 text", {"k": "a"})
    second = memory.revise(first.id, "v2 text")
    third = memory.revise(second.id, "v3 text", metadata={"k": "c"})
    history = memory.history(third.id)
    assert history.ids == [third.id, second.id, first.id]
    assert [t.version for t in history.chain] == [3, 2, 1]
    assert history.cycle is None and history.broken_link is None
    assert second.metadata == {"k": "a"}  # a revision keeps the old metadata unless given
    assert memory.get(first.id).superseded_by == second.id
    assert [t.id for t in memory.traces("active")] == [third.id]


def test_a_cycle_in_a_revise_chain_is_reported_not_looped(tmp_path):
    path = tmp_path / "pathway.jsonl"
    events = [  # a hand-merged log whose links loop a -> c -> b -> a
        {"op": "add", "id": "a", "text": "first", "revises": "c", "ts": "t0"},
        {"op": "revise", "id": "b", "revises": "a", "version": 2, "text": "second", "ts": "t1"},
        {"op": "revise", "id": "c", "revises": "b", "version": 3, "text": "third", "ts": "t2"},
    ]
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    history = PathwayMemory(path, embed=bag_of_words).history("c")
    assert history.ids == ["c", "b", "a"]
    assert history.cycle == ["c", "b", "a", "c"]


def test_a_revises_link_to_a_missing_trace_is_reported(tmp_path):
    path = tmp_path / "pathway.jsonl"
    path.write_text(json.dumps({"op": "add", "id": "x", "text": "t", "revises": "gone", "ts": "t"}) + "\n")
    history = PathwayMemory(path).history("x")
    assert history.ids == ["x"] and history.broken_link == "gone"


def test_retired_traces_are_excluded_from_search(memory):
    keep = memory.add("registered nurse night shift")
    gone = memory.add("registered nurse night shift hospital")
    memory.retire(gone.id, reason="wrong employer")
    hits = memory.search("registered nurse night shift hospital", top_k=5)
    assert [h.trace.id for h in hits] == [keep.id]
    assert memory.get(gone.id).retired_reason == "wrong employer"


def test_superseded_versions_are_excluded_from_search(memory):
    old = memory.add("forklift operator warehouse")
    new = memory.revise(old.id, "forklift operator warehouse night")
    assert [h.trace.id for h in memory.search("forklift operator warehouse")] == [new.id]


def test_search_ranks_by_similarity_and_filters_metadata(memory):
    nurse = memory.add("registered nurse intensive care", {"state": "IL", "tags": ["health"]})
    memory.add("truck driver long haul", {"state": "IL"})
    tx = memory.add("registered nurse pediatric", {"state": "TX"})
    hits = memory.search("registered nurse", top_k=2)
    assert {h.trace.id for h in hits} == {nurse.id, tx.id}
    assert hits[0].score >= hits[1].score
    assert [h.trace.id for h in memory.search("registered nurse", where={"state": "IL"}, top_k=1)] == [nurse.id]
    assert {h.trace.id for h in memory.search("nurse", where={"state": ["TX", "IL"], "tags": "health"})} == {nurse.id}


def test_a_corrupt_line_is_reported_and_the_rest_loads(tmp_path, memory):
    memory.add("one", trace_id="one")
    with open(memory.path, "a") as fh:
        fh.write("{not json\n")
    memory.add("two", trace_id="two")
    reopened = PathwayMemory(memory.path)
    assert {t.id for t in reopened.traces()} == {"one", "two"}
    assert any("line 2" in p for p in reopened.problems), reopened.problems


def test_a_torn_tail_is_skipped_and_reported_once_closed_off(memory):
    memory.add("whole", trace_id="whole")
    with open(memory.path, "a") as fh:
        fh.write('{"op": "add", "id": "half", "te')
    reopened = PathwayMemory(memory.path)
    assert [t.id for t in reopened.traces()] == ["whole"]
    reopened.add("next", trace_id="next")  # starts a line of its own
    again = PathwayMemory(memory.path)
    assert [t.id for t in again.traces()] == ["whole", "next"]
    assert any("line 2" in p for p in again.problems), again.problems


def test_events_that_cannot_apply_are_reported(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"op": "update", "id": "ghost", "text": "x", "ts": "t"}) + "\n")
    memory = PathwayMemory(path)
    assert memory.traces() == []
    assert memory.problems == ["event 1 (update ghost): no such trace; skipped"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m.add("  "), "text: a trace needs non-empty text"),
        (lambda m: m.add("x", {"k": {"nested": 1}}), "metadata key 'k': values must be"),
        (lambda m: m.add("x", trace_id="bad id!"), "trace id 'bad id!'"),
        (lambda m: m.add("x", trace_id="t1"), "trace id 't1' already exists"),
        (lambda m: m.get("nope"), "no trace with id 'nope'"),
        (lambda m: m.update("t1"), "give new text, metadata or both"),
        (lambda m: m.revise("old", "again"), "it was revised by 't1'; use the latest version"),
        (lambda m: m.retire("gone"), "cannot retire trace 'gone': it is retired"),
        (lambda m: m.search("x", top_k=0), "top_k must be at least 1"),
    ],
)
def test_bad_requests_name_the_problem_and_write_nothing(memory, call, message):
    memory.add("old", trace_id="old")
    memory.revise("old", "new", new_id="t1")
    memory.add("gone", trace_id="gone")
    memory.retire("gone")
    before = memory.path.read_bytes()
    with pytest.raises((PathwayError, TraceNotFound), match=message.replace("(", r"\(")):
        call(memory)
    assert memory.path.read_bytes() == before


def test_search_without_an_embedder_says_so(tmp_path):
    memory = PathwayMemory(tmp_path / "p.jsonl")
    memory.add("text")
    with pytest.raises(PathwayError, match="needs an embedder"):
        memory.search("text")


def test_another_process_appending_is_seen(memory):
    other = PathwayMemory(memory.path)
    memory.add("written by one handle", trace_id="shared")
    assert other.get("shared").text == "written by one handle"


words = st.text(alphabet="abcdefgh ", min_size=1, max_size=20).filter(lambda s: s.strip())


@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["add", "revise", "retire", "update"]), words), max_size=12))
def test_the_fold_of_the_log_equals_the_live_state(tmp_path_factory, steps):
    memory = PathwayMemory(tmp_path_factory.mktemp("fold") / "p.jsonl")
    for op, text in steps:
        latest = [t for t in memory.traces("active")]
        if op == "add" or not latest:
            memory.add(text, {"n": len(text)})
        elif op == "revise":
            memory.revise(latest[-1].id, text)
        elif op == "update":
            memory.update(latest[0].id, text=text)
        else:
            memory.retire(latest[0].id)
    live = [t.model_dump() for t in memory.traces()]
    assert [t.model_dump() for t in PathwayMemory(memory.path).traces()] == live
    for trace in memory.traces():
        history = memory.history(trace.id)
        assert history.cycle is None and [t.version for t in history.chain] == list(range(trace.version, 0, -1))


@given(
    st.dictionaries(st.sampled_from("abc"), st.sampled_from([1, "x", True])),
    st.dictionaries(st.sampled_from("abc"), st.sampled_from([1, "x", [1, "x"]])),
)
def test_metadata_filter_is_an_and_of_ors(metadata, where):
    """The shared rule (lakehouse.search.filters): a missing key never matches; True is not 1."""
    expected = all(
        k in metadata
        and any(w == metadata[k] and type(w) is type(metadata[k]) for w in (v if isinstance(v, list) else [v]))
        for k, v in where.items()
    )
    assert matches(metadata, where) is expected


def test_semantic_search_with_the_real_minilm(tmp_path, settings):
    embed_module = pytest.importorskip("lakehouse.search.embed")
    embedder = embed_module.get_embedder("minilm", settings)
    memory = PathwayMemory(tmp_path / "p.jsonl", embed=embedder.embed)
    nurse = memory.add("Found ICU nursing staff for a hospital in Chicago")
    memory.add("Scheduled long-haul truck drivers for a freight company")
    memory.add("Hired a pastry chef for a downtown bakery")
    hits = memory.search("registered nurse for intensive care unit", top_k=3)
    assert hits[0].trace.id == nurse.id


def test_threads_sharing_one_handle_lose_nothing(memory):
    from concurrent.futures import ThreadPoolExecutor

    first = memory.add("chain start", trace_id="c0")

    def work(n: int) -> None:
        for i in range(20):
            memory.add(f"thread {n} trace {i}")
        try:  # only one thread may revise c0; the others must be refused, not fork the chain
            memory.revise(first.id, f"revised by {n}")
        except PathwayError as exc:
            assert "it was revised by" in str(exc)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    assert len(memory.traces()) == 1 + 80 + 1
    assert [t.model_dump() for t in PathwayMemory(memory.path).traces()] == [t.model_dump() for t in memory.traces()]


def test_a_bulk_import_run_twice_adds_each_trace_once(memory):
    entries = [{"text": f"note {i}: restack pallets in aisle {i}", "metadata": {"aisle": i}} for i in range(100)]
    entries[7]["id"] = "aisle-7"
    # A crash cut the first run short after 30 entries; the re-run gets the whole file.
    first = memory.add_many(entries[:30])
    assert (first["added"], first["skipped"], first["failed"]) == (30, 0, 0)
    assert first["results"][7] == {"index": 7, "id": "aisle-7", "status": "added"}
    assert first["results"][0]["id"].startswith("tr-")
    rerun = memory.add_many(
        entries
        + [
            {"id": "aisle-7", "text": "other text under a taken id"},
            {"text": "note 0: restack pallets in aisle 0", "metadata": {"aisle": 0}, "colour": "red"},
            "not an object",
        ]
    )
    assert (rerun["added"], rerun["skipped"], rerun["failed"]) == (70, 30, 3)
    assert [r["status"] for r in rerun["results"][:31]] == ["duplicate"] * 30 + ["added"]
    errors = [r["error"] for r in rerun["results"][100:]]
    assert errors == [
        "trace id 'aisle-7' already exists with other text or metadata; not added",
        "unknown field(s) ['colour']: an entry has text, metadata and id",
        "expected an object with text, metadata, id; got str",
    ]
    lines = memory.path.read_text().splitlines()
    assert len(lines) == 100 and len({json.loads(line)["id"] for line in lines}) == 100
    assert len(memory.traces("active")) == 100
    # The same text under metadata keys in another order is the same trace.
    again = PathwayMemory(memory.path).add_many(
        [{"metadata": {"aisle": 3}, "text": "note 3: restack pallets in aisle 3"}]
    )
    assert again["skipped"] == 1 and len(memory.path.read_text().splitlines()) == 100


def test_the_import_mode_reports_duplicates(tmp_path):
    from lakehouse.config import Settings
    from lakehouse.core import Lakehouse
    from modes.context import ModeContext
    from modes.invoke import invoke_mode

    lh = Lakehouse(Settings(home=tmp_path / "home"))
    try:
        ctx = ModeContext(lakehouse=lh)
        body = {
            "entries": [{"text": "forklift night shift", "id": "f1"}, {"text": "welding bay", "metadata": {"bay": 2}}]
        }
        assert invoke_mode("pathway.import", body, ctx)["added"] == 2
        out = invoke_mode("pathway.import", body, ctx)
        assert (out["added"], out["skipped"], out["failed"]) == (0, 2, 0)
        assert [r["status"] for r in out["results"]] == ["duplicate", "duplicate"]
        assert lh.pathway.get("f1").text == "forklift night shift"
    finally:
        lh.close()
