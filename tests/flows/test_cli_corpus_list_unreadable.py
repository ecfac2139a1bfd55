"""One unreadable corpus manifest (a torn write) no longer breaks `corpus list` for every corpus
(probe B, finding 5): the others are listed and that one is marked unavailable with the reason."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from modes.catalog.corpus import CorpusListIn, corpus_list
from modes.context import ModeContext
from tests.fixtures.cli import invoke_cli


@pytest.fixture
def broken(lakehouse, lh_home, monkeypatch, tmp_path):
    monkeypatch.setenv("LH_EMBED_MODEL", "wordllama")  # a real model that loads in under a second
    monkeypatch.chdir(tmp_path)
    lakehouse.tables.write_arrow("t", pa.table({"id": ["a", "b"], "text": ["nurse", "welder"]}), mode="overwrite")
    for name in ("goodc", "tornc"):
        invoke_cli("corpus", "build", name, "--table", "t", "--text", "text", "--id-column", "id")
    manifest = lh_home / "objects" / "_vectors" / "tornc" / "manifest.json"
    manifest.write_text('{"broken":')
    return manifest


def test_list_shows_the_others_and_marks_the_unreadable_one(broken, lakehouse):
    rows = json.loads(invoke_cli("corpus", "list", "--json").stdout)
    assert [(r["name"], r["count"]) for r in rows] == [("goodc", 2), ("tornc", None)]
    assert rows[0]["unavailable"] is None
    assert "unreadable corpus manifest (JSONDecodeError" in rows[1]["unavailable"]
    human = invoke_cli("corpus", "list")
    assert "goodc" in human.stdout and "unavailable" in human.stdout
    assert "warning: corpus 'tornc' is unavailable: _vectors/tornc/manifest.json: unreadable corpus manifest" in (
        " ".join(human.stderr.split())
    )
    out = corpus_list(CorpusListIn(), ModeContext.standalone(lakehouse))
    assert out.count == 2 and out.corpora[1].unavailable
    assert broken.read_text() == '{"broken":'


def test_drop_removes_the_corpus_whose_manifest_is_unreadable(broken, lakehouse, lh_home):
    assert lakehouse.tables.exists("corpus_tornc")
    assert "dropped corpus tornc" in invoke_cli("corpus", "drop", "tornc").stdout
    assert not (lh_home / "objects" / "_vectors" / "tornc").exists()
    assert not lakehouse.tables.exists("corpus_tornc")
    rows = json.loads(invoke_cli("corpus", "list", "--json").stdout)
    assert [(r["name"], r["count"], r["unavailable"]) for r in rows] == [("goodc", 2, None)]
