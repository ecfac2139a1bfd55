"""`playbook lookup --corpus` of a corpus that neither exists nor has playbook entries is refused
naming it (probe B, finding 13): it answered an empty table, exit 0, as if the corpus had none."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from tests.fixtures.cli import invoke_cli


@pytest.fixture
def cli(lakehouse, lh_home, monkeypatch, tmp_path):
    monkeypatch.setenv("LH_EMBED_MODEL", "wordllama")  # a real model that loads in under a second
    monkeypatch.chdir(tmp_path)
    lakehouse.tables.write_arrow("t", pa.table({"id": ["n"], "text": ["night nurse"]}), mode="overwrite")
    invoke_cli("corpus", "build", "nurses", "--table", "t", "--text", "text", "--id-column", "id")
    invoke_cli("playbook", "record", "--query", "nurse", "--answer", "n", "--corpus", "nurses", "--score", "1")
    return invoke_cli


@pytest.mark.parametrize("name", ["nurss", "Bad!"])
def test_an_unknown_corpus_is_refused(cli, lh_home, name):
    before = (lh_home / "playbooks.jsonl").read_bytes()
    err = " ".join(cli("playbook", "lookup", "nurse", "--corpus", name, code=1).stderr.split())
    assert f"corpus {name!r} not found and no playbook entry names it" in err and "(corpora: nurses)" in err
    assert (lh_home / "playbooks.jsonl").read_bytes() == before


def test_a_known_corpus_and_a_dropped_one_with_entries_are_looked_up(cli):
    found = json.loads(cli("playbook", "lookup", "nurse", "--corpus", "nurses", "--json").stdout)
    assert found["count"] == 1
    cli("corpus", "drop", "nurses")
    kept = json.loads(cli("playbook", "lookup", "nurse", "--corpus", "nurses", "--json").stdout)
    assert kept["count"] == 1  # its recorded entries are still the lakehouse's
