"""A promote or rollback to a generation of other rows undoes the adds and deletes made since; the
corpus wing said so, but the mode's answer dropped the note, so the CLI never printed it. And a
switch over an unreadable live manifest answered `previous: 0`, a generation that never was."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from tests.fixtures.cli import invoke_cli
from tests.fixtures.ratings import rating_home  # noqa: F401 (fixture)


@pytest.fixture
def health(lakehouse, lh_home, monkeypatch) -> Path:
    """Corpus `health` of 3 rows, generation 1, built in this test's own home (a copied home's
    tables name the original's files: a write there would land in the other home, and is refused)."""
    monkeypatch.setenv("LH_EMBED_MODEL", "wordllama")  # a real model that loads in under a second
    rows = pa.table({"id": ["nurse", "welder", "baker"], "text": ["registered nurse", "welder", "baker"]})
    lakehouse.tables.write_arrow("t", rows, mode="overwrite")
    invoke_cli("corpus", "build", "health", "--table", "t", "--text", "text", "--id-column", "id")
    return lh_home


def test_a_rollback_past_a_delete_says_the_delete_is_undone(health):
    invoke_cli("corpus", "delete", "health", "--id", "nurse")
    result = invoke_cli("corpus", "rollback", "health")
    said = " ".join(result.stderr.split())
    assert "note: generation 1 searches the 3 rows it was made with (generation 2 searched 2)" in said
    assert "rows added or deleted since are undone" in said


def test_the_json_answer_carries_the_note(health):
    invoke_cli("corpus", "delete", "health", "--id", "nurse")
    out = json.loads(invoke_cli("corpus", "rollback", "health", "--json").stdout)
    assert (out["live"], out["previous"]) == (1, 2)
    assert "rows added or deleted since are undone" in out["rows"]


def test_a_switch_over_an_unreadable_manifest_has_no_previous_generation(rating_home):  # noqa: F811
    manifest = rating_home / "objects" / "_vectors" / "health" / "manifest.json"
    manifest.write_text('{"broken":')
    out = json.loads(invoke_cli("corpus", "rollback", "health", "--json").stdout)
    assert out["previous"] is None
    assert out["live"] == 1
