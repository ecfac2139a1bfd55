"""The `Lakehouse` handle: every substrate service, built lazily from settings.

Each service is a cached property so that a mode which only needs SQL never loads the embedding
model, and a CLI command that lists ops never opens the catalog.
"""

from __future__ import annotations

import atexit
import gc
import weakref
from functools import cached_property

from lakehouse.common.paths import make_folder
from lakehouse.config import Settings, get_settings

# Handles still open when the interpreter exits are closed first: duckdb 2.0 prints nanobind
# "leaked instance" reports for connections left open at exit.
_open_handles: weakref.WeakSet[Lakehouse] = weakref.WeakSet()


@atexit.register
def _close_open_handles() -> None:
    for handle in list(_open_handles):
        handle.close()
    gc.collect()  # closed connections still alive at teardown are reported as leaks too


class Lakehouse:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        make_folder(self.settings.home_dir, "setting home (LH_HOME)")
        _open_handles.add(self)

    @cached_property
    def observer(self):
        from lakehouse.data.shared_log import SharedLog
        from lakehouse.observe.observer import Observer

        shared = SharedLog.maybe(self.settings, "ops", tables=lambda: self.tables)
        return Observer(self.settings.ops_log, ring_size=self.settings.ops_ring_size, shared=shared)

    @cached_property
    def store(self):
        from lakehouse.data.storage import open_store

        return open_store(self.settings.objects, self.settings)

    @cached_property
    def pathway(self):
        from lakehouse.data.shared_log import SharedLog
        from lakehouse.learning.pathway import PathwayMemory, settings_embedder

        shared = SharedLog.maybe(self.settings, "pathway", tables=lambda: self.tables)
        return PathwayMemory(self.settings.pathway_log, embed=settings_embedder(self.settings), shared=shared)

    @cached_property
    def chat(self):
        from lakehouse.llm.chat import ChatClient

        return ChatClient(self.settings.models)

    @cached_property
    def tables(self):
        from lakehouse.data.tables import Tables

        return Tables(self.settings)

    @cached_property
    def sql(self):
        from lakehouse.data.sql.engine import SqlEngine

        return SqlEngine(self.settings, self.tables)

    @cached_property
    def corpora(self):
        from lakehouse.search.vectors import CorpusManager

        return CorpusManager(self)

    @cached_property
    def playbooks(self):
        from lakehouse.search.matrix import open_playbooks

        return open_playbooks(self)

    @cached_property
    def matrix(self):
        from lakehouse.search.matrix import open_matrix

        return open_matrix(self)

    def close(self) -> None:
        """Close and let go of every service built so far (DuckDB connections, catalog, files);
        they are built again if used again. Safe to call twice."""
        for name in [n for n in self.__dict__ if n != "settings"]:
            service = self.__dict__.pop(name)
            closer = getattr(service, "close", None)
            if callable(closer):
                closer()
