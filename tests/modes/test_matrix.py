"""The corpus, matrix and playbook modes, called the way workflow nodes call them (invoke_mode)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lakehouse.config import ModelsSettings, Settings
from lakehouse.core import Lakehouse
from lakehouse.search.vectors import CorpusError
from modes.context import ModeContext
from modes.invoke import invoke_mode
from modes.registry import get_mode
from tests.fixtures.vectors import jobs_table

WELDER = "certified welder for structural steel fabrication"


@pytest.fixture
def ctx(vector_world):
    return ModeContext(lakehouse=vector_world)


def test_modes_are_registered_with_typed_io():
    for name in (
        "corpus.build",
        "matrix.search",
        "matrix.relevance",
        "matrix.downgrade",
        "playbook.record",
        "playbook.lookup",
    ):
        spec = get_mode(name)
        assert spec.input_model.model_config.get("extra") == "forbid", name
    assert "hits" in get_mode("matrix.search").output_model.model_fields


def test_corpus_build_creates_then_only_adds_and_refuses_a_changed_source(lakehouse, minilm):
    lakehouse.tables.write_arrow("jobs", jobs_table(), mode="overwrite")
    ctx = ModeContext(lakehouse=lakehouse)
    args = {
        "name": "jobs",
        "table": "jobs",
        "text_cols": ["title", "description"],
        "id_col": "job_id",
        "metadata_cols": ["state"],
    }
    first = invoke_mode("corpus.build", args, ctx)
    assert (first["status"], first["count"], first["manifest"]["model"]) == ("created", 16, "minilm")
    again = invoke_mode("corpus.build", args, ctx)  # a second workflow run: nothing to embed
    assert (again["status"], again["added"]) == ("up_to_date", 0)
    differs = r"\(as built -> as asked: text_cols \['title', 'description'\] -> \['title'\]\); replace it with `rebuild"
    with pytest.raises(CorpusError, match=rf"corpus 'jobs' exists with another source or model {differs}"):
        invoke_mode("corpus.build", {**args, "text_cols": ["title"]}, ctx)
    with pytest.raises(CorpusError, match=r"as asked: metadata_cols \['state'\] -> \[\]\).*`lakehouse corpus build"):
        invoke_mode("corpus.build", {**args, "metadata_cols": []}, ctx)  # the only difference is named
    rebuilt = invoke_mode("corpus.build", {**args, "text_cols": ["title"], "rebuild": True}, ctx)
    assert rebuilt["status"] == "replaced"
    ops = [op for op in lakehouse.observer.ops() if op["mode"] == "corpus.build"]
    assert [op["status"] for op in ops] == ["completed", "completed", "failed", "failed", "completed"]


def test_search_output_is_typed_and_carries_the_decision(ctx):
    out = invoke_mode(
        "matrix.search",
        {
            "query": WELDER,
            "corpora": ["occupations", "jobs", "workers"],
            "top_n": 5,
            "filter": {"state": ["IL", "WI"]},
            "playbooks": False,
        },
        ctx,
    )
    assert out["count"] == len(out["hits"]) <= 5
    assert all(h["metadata"]["state"] in ("IL", "WI") for h in out["hits"])
    assert out["metadata_filter_dropped"] > 0
    assert out["downgrade"] == {
        "mode": "composed",
        "corpora": ["occupations", "jobs", "workers"],
        "reason": "no model given: composed retrieval",
        "model": None,
        "forced": False,
    }
    assert set(out["hits"][0]) >= {"corpus", "id", "text", "score", "distance", "metadata", "boosted_by"}


def test_search_input_is_checked(ctx):
    with pytest.raises(ValidationError, match="top_n"):
        invoke_mode("matrix.search", {"query": "x", "corpora": ["jobs"], "top_n": 0}, ctx)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        invoke_mode("matrix.search", {"query": "x", "corpora": ["jobs"], "topk": 3}, ctx)
    with pytest.raises(ValidationError, match="corpora"):
        invoke_mode("matrix.search", {"query": "x", "corpora": []}, ctx)


def test_relevance_mode_filters_search_hits_and_scores_unscored_ones(ctx):
    search = invoke_mode(
        "matrix.search",
        {
            "query": WELDER,
            "corpora": ["occupations", "jobs", "workers"],
            "top_n": 18,
            "relevance": False,
            "playbooks": False,
        },
        ctx,
    )
    out = invoke_mode("matrix.relevance", {"query": WELDER, "hits": search["hits"]}, ctx)
    assert out["dropped"] > 0 and out["count"] == len(out["hits"]) == 18 - out["dropped"]
    assert (out["threshold"], out["margin"]) == (0.25, 0.25)
    unscored = [
        {"corpus": "x", "id": "a", "text": "MIG welder for steel beams"},
        {"corpus": "x", "id": "b", "text": "kindergarten teacher"},
    ]
    out = invoke_mode("matrix.relevance", {"query": WELDER, "hits": unscored}, ctx)
    assert [h["id"] for h in out["hits"]] == ["a"] and out["hits"][0]["score"] > 0.5


def test_downgrade_mode(vector_world):
    settings = Settings(home=vector_world.settings.home, models=ModelsSettings(weak_models=["tiny"]))
    ctx = ModeContext(lakehouse=Lakehouse(settings), model="big-model")  # the workflow's default model
    out = invoke_mode("matrix.downgrade", {"corpora": ["occupations", "jobs"]}, ctx)
    assert (out["mode"], out["corpora"], out["model"]) == ("isolation", ["occupations"], "big-model")
    out = invoke_mode("matrix.downgrade", {"corpora": ["occupations", "jobs"], "force_mode": True}, ctx)
    assert (out["mode"], out["forced"]) == ("composed", True)
    out = invoke_mode("matrix.downgrade", {"corpora": ["occupations", "jobs"], "model": "tiny"}, ctx)
    assert out["mode"] == "composed"


def test_playbook_record_and_lookup_modes(vector_world, tmp_path):
    lh = Lakehouse(Settings(home=tmp_path / "pb-home"))
    lh.__dict__["corpora"] = vector_world.corpora  # share the built corpora, keep playbooks private
    ctx = ModeContext(lakehouse=lh)
    out = invoke_mode(
        "playbook.record",
        {
            "entries": [
                {"query": "night forklift driver", "answer": "53-7051.00", "corpus": "occupations", "score": 1},
                {"query": "night forklift driver", "answer": "53-7051.00", "corpus": "occupations", "score": "high"},
            ]
        },
        ctx,
    )
    assert (out["recorded"], out["failed"]) == (1, 1)
    assert out["results"][1]["error"].startswith("field 'score': Input should be a valid number")
    single = invoke_mode(
        "playbook.record", {"query": "ICU nurse", "answer": "29-1141.03", "corpus": "occupations", "score": 0.5}, ctx
    )
    assert single["recorded"] == 1
    with pytest.raises(ValidationError, match="missing score"):
        invoke_mode("playbook.record", {"query": "q", "answer": "a", "corpus": "occupations"}, ctx)
    found = invoke_mode("playbook.lookup", {"query": "forklift driver for nights"}, ctx)
    assert found["count"] == 1 and found["matches"][0]["answer"] == "53-7051.00"
    assert 0.6 < found["matches"][0]["similarity"] <= 1 and found["matches"][0]["weight"] > 0
    warm = invoke_mode("matrix.search", {"query": "night forklift driver", "corpora": ["occupations"]}, ctx)
    assert warm["hits"][0]["id"] == "53-7051.00" and warm["hits"][0]["boosted_by"] == [out["results"][0]["id"]]
    assert warm["playbook_matches"] == 1


def test_matrix_outputs_are_the_substrate_types_and_references_still_check():
    """The mode models once re-declared Hit and Decision; now they reuse them, and a workflow
    reference into them is still checked field by field."""
    from flows.checks import _walk_output
    from lakehouse.search.matrix import Decision, Hit

    search, downgrade = get_mode("matrix.search").output_model, get_mode("matrix.downgrade").output_model
    assert search.model_fields["hits"].annotation == list[Hit]
    assert search.model_fields["downgrade"].annotation is Decision
    assert downgrade.model_fields["root"].annotation is Decision
    assert _walk_output(search, ("hits", "0", "id")) is None
    assert _walk_output(downgrade, ("mode",)) is None
    assert "output.hits.0 has no field 'idd'; did you mean 'id'?" in _walk_output(search, ("hits", "0", "idd"))
    assert "output has no field 'mood'; did you mean 'mode' or 'model'?" in _walk_output(downgrade, ("mood",))
