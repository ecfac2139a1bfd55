"""`drift playbook` called a recorded answer that was deleted from the corpus "drifted": no ranking
can hold a deleted row. With `answers_held` such an entry is `gone`, counted apart."""

from __future__ import annotations

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.learning.drift import PlaybookEntry, answers_held, playbook_drift
from tests.fixtures.vectors import HEALTH_MODEL, health_table


def test_an_answer_deleted_from_the_corpus_is_gone_not_drifted(tmp_path):
    lh = Lakehouse(Settings(home=tmp_path / "home", embed_model=HEALTH_MODEL, hnsw_threads=1))
    lh.tables.write_arrow("health", health_table().slice(0, 20), mode="overwrite")
    lh.corpora.build("health", "health", ["Title", "Description"], "O*NET-SOC Code")
    lh.corpora.delete("health", ["29-1011.00"])
    entries = [
        PlaybookEntry(query="chiropractor", answer="29-1011.00", corpus="health"),
        PlaybookEntry(query="dentist", answer="29-1021.00", corpus="health"),
    ]

    def search(query: str, top_k: int) -> list[dict]:
        hits = lh.matrix.search(query, ["health"], top_k=top_k, top_n=top_k, use_playbooks=False, relevance=False)
        return [{"id": h.id, "corpus": h.corpus} for h in hits.hits]

    report = playbook_drift(entries, search, top_k=3, answer_held=answers_held(lh.corpora, ["health"]))
    assert [c.status for c in report.entries] == ["gone", "kept"]
    assert (report.gone, report.drifted, report.drift_rate) == (1, 0, 0.0)
    assert [c.answer for c in report.gone_entries] == ["29-1011.00"]
    lh.close()
