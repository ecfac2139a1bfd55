"""A search with no recorded playbook for its corpora does not load the playbook model: a
wordllama corpus searched in a home with no playbooks loaded MiniLM too, for a vote of nobody."""

from __future__ import annotations

import shutil

import pytest

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.errors import LakehouseError

# A model no registry knows: loading it fails, so any use of the playbook model shows.
UNLOADABLE = "no-such-model"


def test_a_search_without_playbooks_never_loads_the_playbook_model(health_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(health_home, home)
    lh = Lakehouse(Settings(home=home, embed_model=UNLOADABLE))
    try:
        hits = lh.matrix.search("registered nurse", ["health"], top_n=3).hits
        assert [hit.id for hit in hits][:1] == ["29-1141.00"]
        # and once a playbook names the corpus, the vote needs the model again
        (home / "playbooks.jsonl").write_text(
            '{"id": "p1", "ts": "2026-12-01T00:00:00+00:00", "query": "rn", "answer": "29-1141.00",'
            ' "corpus": "health", "score": 1.0, "model": "", "vector": ""}\n'
        )
        with pytest.raises(LakehouseError, match=UNLOADABLE):
            lh.matrix.search("registered nurse", ["health"], top_n=3)
    finally:
        lh.close()
