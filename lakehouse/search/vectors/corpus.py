"""`CorpusManager` (`Lakehouse.corpora`): build, add to, delete from, rebuild, drop and load corpora.

A corpus is three things kept in step: the corpus table `corpus_<name>` (`rows.py`: enough to
rebuild the index without re-embedding), a versioned hnswlib file under `_vectors/<name>/`, and
the manifest there that commits both (see `manifest.py`). Every commit is a new generation;
keeping, promoting and rolling back generations is in `generations.py`, reading (the manifests,
a corpus in memory, the SQL pre-filter) in `reading.py`. Each corpus has its own
lock, so builds and adds into different corpora run side by side; only work on the same corpus is
serialised.

Freshness: `get` checks the stored manifest on every call (one `stat` on a local store while it is
unchanged; otherwise its few hundred bytes are read) against the one the in-memory copy was loaded
from; when another process or handle has rebuilt, replaced, added to or deleted from the corpus,
the new version is loaded. A caller keeps the `LoadedCorpus` it got, so a search in flight
finishes on the index it started with. A generation over the same index file, rows and deletions
as a copy still in memory (an adapter change, a flip back and forth) shares that copy's index
instead of loading it again: the swap costs a manifest read.
"""

from __future__ import annotations

import builtins
import logging
import secrets
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from lakehouse.common.hostlock import HostLocks
from lakehouse.common.progress import Progress
from lakehouse.data.catalog_lock import catalog_locks
from lakehouse.search.adapter import Adapter
from lakehouse.search.embed import get_embedder
from lakehouse.search.vectors.generations import HISTORY_KEPT
from lakehouse.search.vectors.index import HnswParams, VectorIndex
from lakehouse.search.vectors.loaded import LoadedCorpus
from lakehouse.search.vectors.manifest import (
    TITLE_AUTO,
    CorpusError,
    CorpusExists,
    CorpusNotFound,
    Manifest,
    SourceSpec,
    adapter_key,
    check_corpus_name,
    corpus_prefix,
    corpus_table_name,
    generation_key,
    index_key,
    manifest_key,
    now_iso,
    resolve_title,
)
from lakehouse.search.vectors.reading import CorpusReading
from lakehouse.search.vectors.rows import read_rows, rows_table, vectors_of, write_rows
from lakehouse.search.vectors.source import ID_MAX_CHARS, raise_long_id, read_source, row_vectors, source_changes

log = logging.getLogger(__name__)


@dataclass
class Activity:
    """One locked operation on one corpus, for the record (and the no-global-lock test)."""

    corpus: str
    op: str
    started_ns: int
    ended_ns: int | None = None
    thread: str = field(default_factory=lambda: threading.current_thread().name)


@dataclass
class BuildResult:
    corpus: str
    status: str  # created | replaced | added | updated (rows changed or left the source) | up_to_date | rebuilt
    added: int
    count: int
    skipped_ids: list[str]
    manifest: dict[str, Any]


Listener = Callable[[str, str, str], None]  # (corpus, op, phase: "locked" | "done")


class CorpusManager(CorpusReading):
    def __init__(self, lakehouse, embedder_factory=get_embedder) -> None:
        self.lakehouse = lakehouse
        self.settings = lakehouse.settings
        self._embedder_factory = embedder_factory
        self._loaded: dict[str, LoadedCorpus] = {}
        self._recent: dict[str, builtins.list[LoadedCorpus]] = {}  # earlier copies, newest first
        self._stats: dict[str, tuple] = {}  # name -> (manifest file stat, token) last seen matching
        self._locks_guard = threading.Lock()  # guards `_candidates` only, never held during work
        # Writers in other processes take turns through LH_HOME's lock files, other machines through the catalog.
        self._host_locks = HostLocks(self.settings.home_dir / "locks", catalog_locks(self.settings.catalog))
        self.activity: deque[Activity] = deque(maxlen=1000)
        self._listeners: list[Listener] = []
        self._candidates: dict[tuple, set[str]] = {}  # SQL pre-filter results, oldest first

    # plumbing ------------------------------------------------------------------------------
    @property
    def store(self):
        return self.lakehouse.store

    @property
    def tables(self):
        return self.lakehouse.tables

    def params(self) -> HnswParams:
        s = self.settings
        return HnswParams(m=s.hnsw_m, ef_construction=s.hnsw_ef_construction, ef=s.hnsw_ef, threads=s.hnsw_threads)

    def embedder(self, model: str | None = None):
        return self._embedder_factory(model or self.settings.embed_model, self.settings)

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def lock(self, name: str) -> threading.RLock:
        """The corpus's lock among this handle's threads (loads take it; writes take `_operation`)."""
        return self._host_locks.thread_lock(f"corpus-{name}")

    @contextmanager
    def _operation(self, name: str, op: str) -> Iterator[None]:
        check_corpus_name(name)
        with self._host_locks.hold(f"corpus-{name}"):
            record = Activity(name, op, time.perf_counter_ns())
            self.activity.append(record)
            for listener in self._listeners:
                listener(name, op, "locked")
            try:
                yield
            except BaseException:
                self._loaded.pop(name, None)  # memory may be ahead of storage: reload on next use
                self._recent.pop(name, None)
                raise
            finally:
                record.ended_ns = time.perf_counter_ns()
                for listener in self._listeners:
                    listener(name, op, "done")

    # writing -------------------------------------------------------------------------------
    def _commit(
        self,
        manifest: Manifest,
        index: VectorIndex | None,
        live: Manifest | None,
        reason: str,
        adapter: Adapter | None = None,
        make_live: bool = True,
        changes: dict[str, int] | None = None,
    ) -> bytes:
        """Commit `manifest` as a new generation: the index under a new key (None: keep the one
        the manifest names), the adapter (if given), the generation file, then - unless staging -
        the live manifest. Returns the manifest as stored (the token of the copy in memory).
        Generations beyond the kept window, and files no kept generation names, are removed."""
        name = manifest.name
        self._host_locks.check(f"corpus-{name}")  # still ours: nothing of this generation is written otherwise
        numbers = self._generation_numbers(name)
        if live is not None and live.generation not in numbers:
            # a corpus from before generations: its live manifest becomes a generation too
            self.store.put(generation_key(name, live.generation), live.to_json())
            numbers = sorted([*numbers, live.generation])
        generation = max([*numbers, live.generation if live else 0, manifest.version - 1]) + 1
        manifest.generation = manifest.version = generation
        manifest.parent = live.generation if live is not None else None
        manifest.reason = reason
        manifest.changes = changes
        manifest.staged = not make_live
        manifest.updated_at = now_iso()
        manifest.promoted_at = None
        writer = secrets.token_hex(4)
        if index is not None:
            manifest.index_key = index_key(name, generation, writer)
            with tempfile.TemporaryDirectory(prefix="lh-index-") as tmp:
                path = Path(tmp) / "index.hnsw"
                index.save(path)
                self.store.put_file(manifest.index_key, path)
        if adapter is not None:
            manifest.adapter_key = adapter_key(name, generation, writer)
            self.store.put(manifest.adapter_key, adapter.to_bytes())
        if make_live:
            manifest.history = ([live.generation] + live.history)[:HISTORY_KEPT] if live is not None else []
        self._name_generation(manifest)
        data = self._publish_live(name, live, manifest) if make_live else manifest.to_json()
        self._prune(name, manifest if make_live else live)
        return data

    def build(
        self,
        name: str,
        table: str,
        text_cols: builtins.list[str],
        id_col: str,
        metadata_cols: Iterable[str] = (),
        where: str | None = None,
        model: str | None = None,
        replace: bool = False,
        progress: Progress | None = None,
        title_col: str | None = TITLE_AUTO,
    ) -> BuildResult:
        """Embed `table` into a new corpus (or, with `replace`, a fresh copy of an existing one).
        `title_col`: see `resolve_title` (by default the first of two or more text columns)."""
        with self._operation(name, "build"):
            old = self.manifest(name) if self.exists(name) else None
            if old is not None and not replace:
                raise CorpusExists(
                    f"corpus {name!r} already exists ({old.count} rows from table {old.source.table!r}); "
                    "use `corpus add` for new rows, or rebuild it with replace"
                )
            spec = SourceSpec(
                table=table,
                id_col=id_col,
                text_cols=list(text_cols),
                metadata_cols=list(metadata_cols),
                where=where or None,
                title_col=resolve_title(title_col, list(text_cols)),
            )
            rows = read_source(self.lakehouse, spec)
            if rows.skipped_ids and not rows.ids:  # an empty corpus is never what a build of these rows meant
                raise CorpusError(
                    f"none of the {len(rows.skipped_ids)} rows of table {table!r}"
                    f"{' matching --where' if where else ''} has text in --text {','.join(text_cols)} (ids "
                    f"{rows.skipped_ids[:5]}{' ...' if len(rows.skipped_ids) > 5 else ''}): nothing to index; "
                    "nothing was written"
                )
            spec.snapshot_id = rows.snapshot_id
            embedder = self.embedder(model)
            if self.settings.dask_address:  # same rows and order, vectors computed on the cluster
                from lakehouse.search.vectors.dask_build import embed_texts

                vectors = row_vectors(lambda texts: embed_texts(texts, embedder.name, self.settings, progress), rows)
            else:
                vectors = row_vectors(lambda texts: embedder.embed(texts, progress=progress), rows)
            labels = list(range(len(rows.ids)))
            params = self.params()
            index = VectorIndex(embedder.dims, params, capacity=max(1, len(labels)))
            index.add(vectors.reshape(len(labels), embedder.dims), labels)
            snapshot = write_rows(
                self.tables,
                None,
                name,
                rows_table(labels, rows.ids, rows.texts, rows.metadata, vectors.reshape(len(labels), embedder.dims)),
            )
            version = old.version + 1 if old else 1
            manifest = Manifest(
                name=name,
                model=embedder.name,
                dims=embedder.dims,
                params=params.as_dict(),
                source=spec,
                corpus_table=corpus_table_name(name),
                corpus_snapshot_id=snapshot,
                count=index.count,
                next_label=len(labels),
                version=version,
                index_key=index_key(name, version),
                skipped=len(rows.skipped_ids),
            )
            try:
                token = self._commit(manifest, index, old, "replace" if old else "build")
            except BaseException:
                if old is None:  # no corpus names the table: it stayed, and no command removed it
                    self._drop_unnamed_table(name)
                raise
            loaded = LoadedCorpus(name, index, manifest, token)
            loaded.remember(labels, rows.ids, rows.texts, rows.metadata)
            self._set_loaded(name, loaded)
            status = "replaced" if old else "created"
            return BuildResult(name, status, len(labels), index.count, rows.skipped_ids, manifest.summary())

    def _drop_unnamed_table(self, name: str) -> None:
        """The corpus table of a first build whose index or manifest could not be stored (a full
        disk): 2.4 MB that `corpus drop` could not remove ('not found'). Best effort."""
        try:
            self.tables.drop(corpus_table_name(name))
        except Exception:  # noqa: BLE001 - the next build of the name overwrites it anyway
            log.warning("could not drop the corpus table of the failed build of %s", name, exc_info=True)

    def add(self, name: str, progress: Progress | None = None) -> BuildResult:
        """Bring the corpus up to date with its source table (`source_changes`): embed the rows whose
        ids it never held, embed again the rows whose text changed (a row whose metadata alone
        changed keeps its vector), and take out the rows the source no longer gives. Each changed
        row is a new label and its old one a tombstone, so earlier generations keep exactly their
        rows (`rollback`). Ids deleted with `corpus delete` stay out."""
        with self._operation(name, "add"):
            loaded = self.get(name)  # up to date with storage, whoever wrote last
            manifest = Manifest.from_json(loaded.token, manifest_key(name))
            known = set(read_rows(self.tables, manifest, ["id"]).column("id").to_pylist())  # deleted ids too
            rows = read_source(self.lakehouse, manifest.source, corpus=name)
            held = loaded.held()
            changes = source_changes(rows, known, held)
            for position in changes.new:
                if len(rows.ids[position]) > ID_MAX_CHARS:
                    raise_long_id(manifest.source.table, rows.ids[position])
            if not changes:
                return BuildResult(name, "up_to_date", 0, manifest.count, rows.skipped_ids, manifest.summary())
            embedded = rows.subset(changes.new + changes.text_changed)
            vectors = np.zeros((0, manifest.dims), dtype=np.float32)
            if embedded.ids:
                embedder = self.embedder(manifest.model)
                vectors = row_vectors(lambda texts: embedder.embed(texts, progress=progress), embedded)
                vectors = np.asarray(vectors, dtype=np.float32).reshape(len(embedded.ids), manifest.dims)
            indexed = rows.subset(changes.new + changes.text_changed + changes.metadata_changed)
            metadata_only = indexed.ids[len(embedded.ids) :]  # they keep their stored vectors
            replaced = indexed.ids[len(changes.new) :] + changes.gone
            tombstones = {held[row_id][0] for row_id in replaced}
            committed = read_rows(self.tables, manifest) if tombstones else None
            if committed is not None and metadata_only:
                by_label = dict(zip(committed.column("label").to_pylist(), vectors_of(committed), strict=True))
                vectors = np.vstack([vectors, *(by_label[held[row_id][0]][None, :] for row_id in metadata_only)])
            ids, texts, metadata = indexed.ids, indexed.texts, indexed.metadata
            labels = list(range(manifest.next_label, manifest.next_label + len(ids)))
            live = Manifest.from_json(loaded.token, manifest_key(name))
            self._unshare(name, loaded)
            loaded.index.mark_deleted(loaded.forget(replaced))
            loaded.index.add(vectors, labels)
            new_rows = rows_table(labels, ids, texts, metadata, vectors)
            if committed is None:
                manifest.corpus_snapshot_id = write_rows(self.tables, manifest, name, new_rows)
            else:  # the replaced rows become tombstones in the same write as the rows replacing them
                pairs = zip(committed.column("label").to_pylist(), committed.column("deleted").to_pylist(), strict=True)
                flags = [deleted or label in tombstones for label, deleted in pairs]
                committed = committed.set_column(
                    committed.schema.get_field_index("deleted"), "deleted", pa.array(flags, type=pa.bool_())
                )
                both = pa.concat_tables([committed, new_rows.select(committed.column_names).cast(committed.schema)])
                manifest.corpus_snapshot_id = self.tables.write_arrow(manifest.corpus_table, both, mode="overwrite")
            manifest.source.snapshot_id = rows.snapshot_id
            manifest.next_label += len(labels)
            manifest.deleted_labels = sorted(set(manifest.deleted_labels) | tombstones)
            manifest.count = loaded.index.count
            manifest.skipped = len(rows.skipped_ids)
            counts = {
                "new": len(changes.new),
                "text_changed": len(changes.text_changed),
                "metadata_changed": len(changes.metadata_changed),
                "gone": len(changes.gone),
            }
            adapter = _without_moved_rows(loaded.adapter, embedded.ids[len(changes.new) :])
            token = self._commit(manifest, loaded.index, live, "add", adapter=adapter, changes=counts)
            loaded.adapter = adapter or loaded.adapter
            loaded.remember(labels, ids, texts, metadata)
            loaded.manifest, loaded.token = manifest, token
            status = "updated" if tombstones else "added"
            return BuildResult(name, status, len(changes.new), manifest.count, rows.skipped_ids, manifest.summary())

    def delete(self, name: str, ids: Iterable[str]) -> dict[str, Any]:
        """Remove ids from search (hnswlib `mark_deleted`; the rows stay as tombstones)."""
        ids = list(dict.fromkeys(str(i) for i in ids))
        with self._operation(name, "delete"):
            loaded = self.get(name)
            manifest = Manifest.from_json(loaded.token, manifest_key(name))
            unknown = [i for i in ids if not loaded.has(i)]
            if unknown:
                # ids are exact ("job1 " is another row than "job1"): name the near miss, never take it
                near = [f"{i!r} -> {i.strip()!r}" for i in unknown[:20] if i.strip() != i and loaded.has(i.strip())]
                hint = f" (ids are compared exactly; did you mean {', '.join(near)}?)" if near else ""
                raise CorpusError(
                    f"corpus {name!r} has no live row with id(s) {unknown[:20]}{hint}; nothing was deleted"
                )
            if not ids:
                return {"corpus": name, "deleted": 0, "count": manifest.count}
            live = Manifest.from_json(loaded.token, manifest_key(name))
            rows = read_rows(self.tables, manifest)
            gone = set(ids)
            flags = [
                d or i in gone
                for i, d in zip(rows.column("id").to_pylist(), rows.column("deleted").to_pylist(), strict=False)
            ]
            rows = rows.set_column(rows.schema.get_field_index("deleted"), "deleted", pa.array(flags, type=pa.bool_()))
            manifest.corpus_snapshot_id = self.tables.write_arrow(manifest.corpus_table, rows, mode="overwrite")
            self._unshare(name, loaded)
            labels = loaded.forget(ids)
            loaded.index.mark_deleted(labels)
            manifest.deleted_labels = sorted(set(manifest.deleted_labels) | set(labels))
            manifest.count = loaded.index.count
            token = self._commit(manifest, loaded.index, live, "delete")
            loaded.manifest, loaded.token = manifest, token
            return {"corpus": name, "deleted": len(labels), "count": manifest.count}

    def rebuild(self, name: str) -> BuildResult:
        """A fresh index from the stored vectors (no re-embedding), with today's HNSW settings;
        deleted rows are left out for good."""
        with self._operation(name, "rebuild"):
            manifest = self.manifest(name)
            live = self.manifest(name)
            rows = read_rows(self.tables, manifest, ["label", "id", "text", "metadata", "vector", "deleted"])
            rows = rows.filter(pa.array([not d for d in rows.column("deleted").to_pylist()], type=pa.bool_()))
            labels = rows.column("label").to_pylist()
            params = self.params()
            index = VectorIndex(manifest.dims, params, capacity=max(1, len(labels)))
            index.add(vectors_of(rows).reshape(len(labels), manifest.dims), labels)
            manifest.params = params.as_dict()
            manifest.deleted_labels = []
            manifest.count = index.count
            token = self._commit(manifest, index, live, "rebuild")
            loaded = LoadedCorpus(name, index, manifest, token, self._load_adapter(manifest))
            loaded.remember(labels, *(rows.column(c).to_pylist() for c in ("id", "text", "metadata")))
            self._set_loaded(name, loaded)
            return BuildResult(name, "rebuilt", 0, index.count, [], manifest.summary())

    def drop(self, name: str) -> dict[str, Any]:
        """Delete the corpus: its index files, manifest and corpus table."""
        with self._operation(name, "drop"):
            try:
                manifest: Manifest | None = self.manifest(name)
            except CorpusNotFound:
                raise
            except CorpusError:  # a torn manifest: dropping is the way out, so it must not need it
                manifest = None
            table = manifest.corpus_table if manifest is not None else corpus_table_name(name)
            self.store.delete(manifest_key(name))  # first: without it the corpus is gone
            for key in self.store.list(corpus_prefix(name)):
                self.store.delete(key)
            if self.tables.exists(table):
                self.tables.drop(table)
            self._loaded.pop(name, None)
            self._recent.pop(name, None)
            return {"corpus": name, "dropped": True, "count": manifest.count if manifest is not None else 0}

    def close(self) -> None:
        self._loaded.clear()
        self._recent.clear()


def _without_moved_rows(adapter: Adapter | None, retexted: builtins.list[str]) -> Adapter | None:
    """The adapter less the moved vectors of rows whose text changed (each was learned from the old
    text's vector, and would keep scoring the row as that); None when it moves none of them."""
    if adapter is None or not any(adapter.has(row_id) for row_id in retexted):
        return None
    changed = set(retexted)
    keep = [i for i, row_id in enumerate(adapter.ids) if row_id not in changed]
    return Adapter(adapter.W, [adapter.ids[i] for i in keep], adapter.vectors[keep], adapter.meta, adapter.reranker)
