"""`drift playbook` through the mode (CLI, HTTP, the nightly job): a recorded answer deleted from
the corpus read as "drifted". The learning wing could already tell it apart; the mode never asked."""

from __future__ import annotations

import json

import pyarrow as pa

from tests.fixtures.cli import invoke_cli

NURSE, HYGIENIST = "29-1141.00", "29-1292.00"


def test_a_deleted_answer_is_gone_not_drifted(lakehouse, monkeypatch):
    # a corpus of this test's own home: in a copy of the session's health home, the delete would
    # write the copied corpus table, whose files lie in the original home (refused)
    monkeypatch.setenv("LH_EMBED_MODEL", "wordllama")  # a real model that loads in under a second
    rows = {"id": [NURSE, HYGIENIST, "47-2111.00"], "text": ["registered nurse", "dental hygienist", "electrician"]}
    lakehouse.tables.write_arrow("t", pa.table(rows), mode="overwrite")
    invoke_cli("corpus", "build", "health", "--table", "t", "--text", "text", "--id-column", "id")
    invoke_cli("rate", "ICU nurse", "--corpus", "health", "--good", NURSE)
    invoke_cli("rate", "cleans teeth", "--corpus", "health", "--good", HYGIENIST)
    invoke_cli("corpus", "delete", "health", "--id", NURSE)
    out = json.loads(invoke_cli("drift", "playbook", "--corpus", "health", "--json").stdout)
    by_query = {e["query"]: e for e in out["entries"]}
    assert by_query["ICU nurse"]["status"] == "gone"
    assert out["gone"] == 1
    assert out["drifted"] == 0
