"""Searching a corpus as it would search with another adapter, committing nothing: what the adapt
gate, the reranker's training and the lift test search through."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lakehouse.search.adapter import Adapter


def adapted_view(loaded: Any, adapter: Adapter | None) -> Any:
    """The live corpus as it would search with `adapter` instead of its own (None: with none):
    its index and rows are shared, nothing is committed or changed."""
    return loaded.with_adapter(adapter)


class PinnedCorpora:
    """A corpus source for `MatrixSearcher` that hands out given copies (a pinned generation, an
    adapted view) and asks the real source for everything else."""

    def __init__(self, corpora: Any, pinned: dict[str, Any]) -> None:
        self.corpora = corpora
        self.pinned = pinned

    def get(self, name: str) -> Any:
        return self.pinned[name] if name in self.pinned else self.corpora.get(name)

    def candidates(self, name: str, where: str) -> set[str]:
        return self.corpora.candidates(name, where)


def temporary_playbooks(lakehouse, directory: Path, records: list[dict[str, Any]]):
    """A playbook store in `directory` holding just these entries (their stored vectors kept)."""
    from lakehouse.search.embed import get_embedder
    from lakehouse.search.playbooks import PlaybookStore

    s = lakehouse.settings
    store = PlaybookStore(
        directory / "playbooks.jsonl",
        lambda: get_embedder(s.embed_model, s),
        half_life_days=s.playbook_half_life_days,
        min_similarity=s.playbook_min_similarity,
    )
    with store.log.exclusive():
        for record in records:
            store.log.append(record)
    return store
