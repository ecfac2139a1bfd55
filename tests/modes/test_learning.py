"""Learning-loop modes (pathway.*, distillation.*, drift.*) run through `invoke_mode`, which also
records each call as an ObservedOp."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest
from pydantic import ValidationError

from lakehouse.common.recordfile import InputFileError
from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from modes.context import ModeContext
from modes.invoke import invoke_mode
from tests.fixtures.learning import EVAL_QUERIES, history_records, write_jsonl


@pytest.fixture
def ctx(lh_home):
    # wordllama: a real embedding model that loads in well under a second
    lakehouse = Lakehouse(Settings(embed_model="wordllama"))
    yield ModeContext.standalone(lakehouse)
    lakehouse.close()


def test_pathway_modes_round_trip(ctx):
    first = invoke_mode(
        "pathway.add", {"text": "placed ICU nurses at a Chicago hospital", "metadata": {"state": "IL"}, "id": "p1"}, ctx
    )["trace"]
    assert first["version"] == 1
    second = invoke_mode("pathway.revise", {"id": "p1", "text": "placed ICU and ER nurses in Chicago"}, ctx)["trace"]
    invoke_mode("pathway.update", {"id": second["id"], "metadata": {"owner": "ana"}}, ctx)
    invoke_mode("pathway.add", {"text": "hired welders for a shipyard", "id": "w1"}, ctx)
    invoke_mode("pathway.retire", {"id": "w1", "reason": "duplicate"}, ctx)
    history = invoke_mode("pathway.history", {"id": second["id"]}, ctx)
    assert [t["id"] for t in history["chain"]] == [second["id"], "p1"] and history["cycle"] is None
    found = invoke_mode("pathway.search", {"query": "nurses", "where": {"state": "IL"}}, ctx)
    assert [h["trace"]["id"] for h in found["hits"]] == [second["id"]]
    assert found["hits"][0]["trace"]["metadata"] == {"state": "IL", "owner": "ana"}
    modes_seen = [op["mode"] for op in ctx.lakehouse.observer.ops()]
    assert modes_seen[:3] == ["pathway.add", "pathway.revise", "pathway.update"]


def test_pathway_mode_errors_name_the_trace(ctx):
    with pytest.raises(LookupError, match="no trace with id 'missing'"):
        invoke_mode("pathway.retire", {"id": "missing"}, ctx)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        invoke_mode("pathway.add", {"text": "x", "colour": "red"}, ctx)
    assert not ctx.lakehouse.settings.pathway_log.exists() or ctx.lakehouse.pathway.traces() == []
    assert [op["status"] for op in ctx.lakehouse.observer.ops()] == ["failed", "failed"]


def test_distillation_score_inline_and_from_a_file(ctx, evidence_file):
    inline = invoke_mode(
        "distillation.score",
        {"evidence": [r.model_dump() for r in history_records(1)], "scorer_version": "v1", "include_results": False},
        ctx,
    )
    assert inline["counts"] == {"gold": 3, "silver": 2, "needs_review": 3, "reject": 2}
    assert inline["results"] == []
    out = invoke_mode("distillation.score", {"evidence_path": str(evidence_file), "out_path": "scored.jsonl"}, ctx)
    assert out["scorer_version"] == "v2" and out["total"] == 13
    rows = (ctx.lakehouse.settings.home_dir / "scored.jsonl").read_text().splitlines()
    assert len(rows) == 13 and all(json.loads(r)["scorer_version"] == "v2" for r in rows)


def test_distillation_export_keeps_evaluation_copies_out(ctx, evidence_file, eval_file):
    report = invoke_mode(
        "distillation.export",
        {
            "evidence_path": str(evidence_file),
            "eval_path": str(eval_file),
            "out_path": "sft/train.jsonl",
            "scorer_version": "v1",
            "categories": ["gold", "silver"],
        },
        ctx,
    )
    assert report["contaminated"] == 3 and report["written"] == 5
    exported = (ctx.lakehouse.settings.home_dir / "sft" / "train.jsonl").read_text()
    assert not any(q.lower() in exported.lower() for q in EVAL_QUERIES)


@pytest.mark.parametrize(
    ("payload", "error", "message"),
    [
        (
            {"evidence_path": "nope.jsonl", "eval_queries": ["q"], "out_path": "o.jsonl"},
            InputFileError,
            r"nope.jsonl: no such file",
        ),
        (
            {"evidence": [], "evidence_path": "e.jsonl", "eval_queries": [], "out_path": "o.jsonl"},
            ValidationError,
            r"give exactly one of `evidence` \(records\) or `evidence_path`",
        ),
        ({"evidence": [], "out_path": "o.jsonl"}, ValidationError, r"the firewall needs one"),
        (
            {"evidence": [], "eval_queries": [], "out_path": "o.jsonl", "categories": ["platinum"]},
            ValidationError,
            r"unknown categories \['platinum'\]",
        ),
    ],
)
def test_distillation_export_bad_inputs(ctx, payload, error, message):
    with pytest.raises(error, match=message):
        invoke_mode("distillation.export", payload, ctx)
    assert not (ctx.lakehouse.settings.home_dir / "o.jsonl").exists()


def test_drift_scorer_mode_reads_a_history_file(ctx, tmp_path):
    path = write_jsonl(tmp_path / "history.jsonl", [r.model_dump() for r in history_records(2)])
    out = invoke_mode("drift.scorer", {"history_path": str(path), "old_version": "v1"}, ctx)
    assert out["new_version"] == "v2" and out["drifted"] == 8
    assert out["shift_matrix"][0] == {"from": "gold", "to": "silver", "count": 4}
    (tmp_path / "bad.jsonl").write_text('{"query": "q", "answer": "a", "success": "maybe", "latency_ms": 1}\n')
    with pytest.raises(InputFileError, match=r"bad.jsonl line 1, field 'success': Input should be a valid boolean"):
        invoke_mode("drift.scorer", {"history_path": str(tmp_path / "bad.jsonl"), "old_version": "v1"}, ctx)


def test_drift_embedding_mode_with_snapshot_files(ctx):
    home = ctx.lakehouse.settings.home_dir
    rng = np.random.default_rng(3)
    np.save(home / "a.npy", rng.normal(size=(200, 8)))
    np.save(home / "b.npy", rng.normal(size=(200, 8)) + 1.0)
    out = invoke_mode("drift.embedding", {"a_path": "a.npy", "b_path": "b.npy"}, ctx)
    assert out["drifted"] is True and out["alpha"] == 0.05 and out["n_b"] == 200
    with pytest.raises(InputFileError, match=r"missing.npy: no such file"):
        invoke_mode("drift.embedding", {"a_path": "a.npy", "b_path": "missing.npy"}, ctx)


OCCUPATIONS = {
    "29-1141.00": "Registered Nurses",
    "53-3032.00": "Heavy and Tractor-Trailer Truck Drivers",
    "35-2014.00": "Cooks, Restaurant",
    "47-2111.00": "Electricians",
    "43-3051.00": "Payroll and Timekeeping Clerks",
    "51-4121.00": "Welders, Cutters, Solderers, and Brazers",
}


@pytest.fixture
def occupations(ctx):
    """A real corpus (Iceberg table + hnswlib index) of a few O*NET occupations."""
    pa = pytest.importorskip("pyarrow")
    lakehouse = ctx.lakehouse
    lakehouse.tables.write_arrow(
        "occupations", pa.table({"code": list(OCCUPATIONS), "title": list(OCCUPATIONS.values())})
    )
    lakehouse.corpora.build("occ", "occupations", ["title"], "code")
    return lakehouse


def test_drift_playbook_checks_recorded_playbooks_against_the_matrix(ctx, occupations):
    occupations.playbooks.record("registered nurses", "29-1141.00", "occ", 0.9)
    # recorded before the index was (re)built, and no longer top-1: drifted
    before = datetime(2020, 1, 1, tzinfo=UTC)
    occupations.playbooks.record("registered nurses wanted", "47-2111.00", "occ", 0.8, ts=before)
    occupations.playbooks.record("ignored: a negative judgement", "35-2014.00", "occ", -0.5)
    out = invoke_mode("drift.playbook", {"corpora": ["occ"], "top_k": 1}, ctx)
    assert out["checked"] == 2 and out["drifted"] == 1 and out["not_ranked"] == 0
    assert out["drifted_entries"][0]["answer"] == "47-2111.00"
    assert out["entries"][0]["rank"] == 1 and out["entries"][0]["top_ids"] == ["29-1141.00"]
    wide = invoke_mode("drift.playbook", {"corpora": ["occ"], "top_k": 6}, ctx)
    assert wide["drifted"] == 0  # every id of the corpus is within the top 6


def test_drift_embedding_between_two_snapshots_of_a_corpus(ctx, occupations):
    pa = pytest.importorskip("pyarrow")
    first = occupations.corpora.manifest("occ").corpus_snapshot_id
    more = {"29-1292.00": "Dental Hygienists", "53-7051.00": "Industrial Truck and Tractor Operators"}
    occupations.tables.write_arrow("occupations", pa.table({"code": list(more), "title": list(more.values())}))
    occupations.corpora.add("occ")
    out = invoke_mode("drift.embedding", {"corpus": "occ", "snapshot_a": first}, ctx)
    assert (out["n_a"], out["n_b"]) == (6, 8) and 0 <= out["p_value"] <= 1
    with pytest.raises(
        ValidationError,
        match=r"give either `a_path` and `b_path` \(the CLI.s --a and --b\), or `corpus` and `snapshot_a`",
    ):
        invoke_mode("drift.embedding", {"corpus": "occ"}, ctx)
