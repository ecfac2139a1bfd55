"""A corpus whose live manifest does not read (a torn write): `corpus show` says so and names the way
out, `corpus rollback` / `corpus promote` make a kept generation live again without reading it (they
failed with the manifest error, so only editing files by hand helped), and `corpus drop` removes it."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from tests.fixtures.cli import invoke_cli


@pytest.fixture
def torn(lakehouse, lh_home, monkeypatch, tmp_path):
    """Generations 1 (build, 2 rows) and 2 (add, 3 rows) were live; 3 is a staged adapter."""
    monkeypatch.setenv("LH_EMBED_MODEL", "wordllama")  # a real model that loads in under a second
    monkeypatch.chdir(tmp_path)
    lakehouse.tables.write_arrow("t", pa.table({"id": ["a", "b"], "text": ["nurse", "welder"]}), mode="overwrite")
    invoke_cli("corpus", "build", "tornc", "--table", "t", "--text", "text", "--id-column", "id")
    lakehouse.tables.write_arrow("t", pa.table({"id": ["c"], "text": ["baker"]}), mode="append")
    invoke_cli("corpus", "add", "tornc")
    dims = lakehouse.corpora.manifest("tornc").dims
    assert lakehouse.corpora.stage("tornc", adapter=np.eye(dims, dtype=np.float32)) == 3
    manifest = lh_home / "objects" / "_vectors" / "tornc" / "manifest.json"
    manifest.write_text('{"broken":')
    return manifest


def shown(name: str) -> dict:
    return json.loads(invoke_cli("corpus", "show", name, "--json").stdout)


def test_show_names_the_way_out_and_rollback_restores_the_newest_committed_generation(torn):
    err = " ".join(invoke_cli("corpus", "show", "tornc", code=1).stderr.split())
    assert "_vectors/tornc/manifest.json: unreadable corpus manifest (JSONDecodeError" in err
    assert (
        "`lakehouse corpus rollback tornc` makes its newest committed generation (2) live again, "
        "`lakehouse corpus promote tornc GEN` any kept one (generations: [3, 2, 1]); "
        "`lakehouse corpus drop tornc` removes the corpus" in err
    )
    out = " ".join(invoke_cli("corpus", "rollback", "tornc").stdout.split())
    assert "rollback corpus tornc: generation 2 is live (its live manifest was unreadable)" in out
    assert (shown("tornc")["generation"], shown("tornc")["count"]) == (2, 3)
    hits = json.loads(invoke_cli("search", "baker", "--corpus", "tornc", "--no-relevance", "--json").stdout)["hits"]
    assert hits[0]["id"] == "c"


def test_promote_restores_the_generation_named_and_drop_removes_the_corpus(torn):
    out = " ".join(invoke_cli("corpus", "promote", "tornc", "1").stdout.split())
    assert "promote corpus tornc: generation 1 is live (its live manifest was unreadable)" in out
    assert (shown("tornc")["generation"], shown("tornc")["count"]) == (1, 2)
    torn.write_text('{"broken":')
    assert "has no generation 9; its kept generations are [3, 2, 1]" in " ".join(
        invoke_cli("corpus", "promote", "tornc", "9", code=1).stderr.split()
    )
    assert torn.read_text() == '{"broken":'  # a refused promote leaves it as it was
    assert "dropped corpus tornc" in invoke_cli("corpus", "drop", "tornc").stdout
