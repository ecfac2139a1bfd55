"""Ids are compared exactly on every surface (probe B, finding 2): `corpus build` stores them as the
source holds them, so `rate`, `rate --file`, HTTP feedback and `corpus delete` must not strip them
("job1 " is another row than "job1"); `corpus delete --id` names an id that holds a comma."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from flows.http.feedback import FeedbackBody
from lakehouse.common.recordfile import read_records
from lakehouse.learning.distill import EvidenceRecord
from tests.fixtures.cli import invoke_cli

IDS = ["job1", "job1 ", " padded ", "tab\t", "a,b"]
TEXTS = ["forklift operator", "pastry chef", "night nurse", "welder", "truck driver"]


@pytest.fixture
def cli(lakehouse, monkeypatch, tmp_path):
    monkeypatch.setenv("LH_EMBED_MODEL", "wordllama")  # a real model that loads in under a second
    monkeypatch.chdir(tmp_path)
    lakehouse.tables.write_arrow("trail", pa.table({"id": IDS, "text": TEXTS}), mode="overwrite")
    invoke_cli("corpus", "build", "trailc", "--table", "trail", "--text", "text", "--id-column", "id")
    return invoke_cli


def _live(cli) -> list[str]:
    hits = json.loads(cli("search", "work", "--corpus", "trailc", "--no-relevance", "--top", "10", "--json").stdout)
    return sorted(h["id"] for h in hits["hits"])


def test_rate_stores_the_padded_id_it_was_given(cli, lh_home, tmp_path):
    cli("rate", "pastry chef wanted", "--corpus", "trailc", "--good", "job1 ")
    cli("rate", "night nurse", "--corpus", "trailc", "--bad", " padded ")
    placements = tmp_path / "placements.csv"
    placements.write_text('query,corpus,id,verdict\nwelding,trailc,"tab\t",good\ndriver,trailc,"a,b",good\n')
    cli("rate", "--file", str(placements))
    evidence = read_records(lh_home / "evidence.jsonl", EvidenceRecord)
    assert [(e.meta["hit_id"], e.answer) for e in evidence] == [
        ("job1 ", "job1  pastry chef"),
        (" padded ", " padded  night nurse"),
        ("tab\t", "tab\t welder"),
        ("a,b", "a,b truck driver"),
    ]
    entries = [json.loads(line) for line in (lh_home / "playbooks.jsonl").read_text().splitlines()]
    assert [e["answer"] for e in entries] == ["job1 ", " padded ", "tab\t", "a,b"]


def test_http_feedback_keeps_the_id_exact_and_refuses_a_blank_one():
    assert FeedbackBody(query=" q ", corpus="trailc", id="job1 ", verdict="good").id == "job1 "
    assert FeedbackBody(ratings=[{"query": "q", "corpus": "c", "id": "\tx", "verdict": "bad"}]).ratings[0].id == "\tx"
    with pytest.raises(ValueError, match="must not be blank"):
        FeedbackBody(query="q", corpus="c", id="  ", verdict="good")


def test_delete_removes_exactly_the_row_named(cli):
    assert "deleted 1 from trailc; 4 searchable" in cli("corpus", "delete", "trailc", "--ids", "job1 ").stdout
    assert _live(cli) == sorted(["job1", " padded ", "tab\t", "a,b"])
    cli("corpus", "delete", "trailc", "--id", "a,b", "--id", " padded ")
    assert _live(cli) == sorted(["job1", "tab\t"])


def test_delete_of_a_near_miss_is_refused_naming_the_stored_id(cli):
    err = " ".join(cli("corpus", "delete", "trailc", "--ids", "tab", code=1).stderr.split())
    assert "has no live row with id(s) ['tab']" in err
    err = " ".join(cli("corpus", "delete", "trailc", "--ids", "job1,a", code=1).stderr.split())
    assert "no live row with id(s) ['a']; nothing was deleted" in err
    err = " ".join(cli("corpus", "delete", "trailc", "--id", " job1", "--id", "padded ", code=1).stderr.split())
    assert (
        "no live row with id(s) [' job1', 'padded '] (ids are compared exactly; did you mean ' job1' -> 'job1'?)" in err
    )
    assert "give the ids to delete" in cli("corpus", "delete", "trailc", "--ids", ",", code=1).stderr
    assert _live(cli) == sorted(IDS)
