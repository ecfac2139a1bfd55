"""A playbook recorded in one LH_HOME and flushed changes the next search in another LH_HOME on the
same catalog (shared state); before the flush it does not."""

from __future__ import annotations

import shutil

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.data.shared_log import flush_all
from tests.fixtures.vectors import HEALTH_MODEL

QUERY = "nurse who works in the intensive care unit"


def ranked(lh: Lakehouse) -> list[str]:
    result = lh.matrix.search(QUERY, ["health"], relevance=False, top_k=10, top_n=10, force_mode=True)
    return [h.id for h in result.hits]


def test_a_playbook_flushed_in_one_home_changes_the_search_in_another(health_home, tmp_path):
    a_home, b_home = tmp_path / "a", tmp_path / "b"
    shutil.copytree(health_home, a_home)
    shutil.copytree(health_home, b_home)
    shared = {"catalog_url": f"sqlite:///{a_home / 'catalog.db'}", "warehouse_url": (a_home / "warehouse").as_uri()}
    a = Lakehouse(Settings(home=a_home, embed_model=HEALTH_MODEL, hnsw_threads=1, **shared))
    b = Lakehouse(Settings(home=b_home, embed_model=HEALTH_MODEL, hnsw_threads=1, **shared))
    try:
        cold = ranked(b)
        answer = cold[5]
        a.playbooks.record(QUERY, answer, "health", 1.0)
        assert ranked(b) == cold  # recorded in a, not flushed yet: b cannot know
        reports = {r.name: r for r in flush_all(a.settings)}
        assert reports["playbooks"].appended == 1
        warm = ranked(b)
        assert warm[0] == answer and warm != cold
        assert [e.query for e in b.playbooks.entries()] == [QUERY]
        assert flush_all(b.settings)[1].appended == 0  # b logged nothing of its own
    finally:
        a.close()
        b.close()
