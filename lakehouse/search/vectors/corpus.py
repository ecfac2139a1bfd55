"""`CorpusManager` (`Lakehouse.corpora`): build, add to, delete from, rebuild, drop and load corpora.

A corpus is three things kept in step: the corpus table `corpus_<name>` (`rows.py`: enough to
rebuild the index without re-embedding), a versioned hnswlib file under `_vectors/<name>/`, and
the manifest there that commits both (see `manifest.py`). Every commit is a new generation;
keeping, promoting and rolling back generations is in `generations.py`. Each corpus has its own
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
import os
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

import pyarrow as pa

from lakehouse.common.hostlock import HostLocks
from lakehouse.common.progress import Progress
from lakehouse.common.suggest import did_you_mean
from lakehouse.data.catalog_lock import catalog_locks
from lakehouse.data.storage import ObjectNotFound
from lakehouse.search.adapter import Adapter
from lakehouse.search.embed import get_embedder
from lakehouse.search.vectors.generations import HISTORY_KEPT, Generations
from lakehouse.search.vectors.index import HnswParams, VectorIndex
from lakehouse.search.vectors.loaded import LoadedCorpus
from lakehouse.search.vectors.manifest import (
    TITLE_AUTO,
    VECTORS_PREFIX,
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
from lakehouse.search.vectors.rows import ROW_COLUMNS, read_rows, rows_table, vectors_of, write_rows
from lakehouse.search.vectors.source import candidate_ids, read_source, row_vectors


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
    status: str  # created | replaced | added | up_to_date | rebuilt
    added: int
    count: int
    skipped_ids: list[str]
    manifest: dict[str, Any]


Listener = Callable[[str, str, str], None]  # (corpus, op, phase: "locked" | "done")
CANDIDATE_SETS_KEPT = 16
CANDIDATE_IDS_KEPT = 1_000_000


class CorpusManager(Generations):
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

    # reading -------------------------------------------------------------------------------
    def names(self) -> list[str]:
        keys = self.store.list(f"{VECTORS_PREFIX}/")
        return sorted({k.split("/")[1] for k in keys if k.endswith("/manifest.json")})

    def exists(self, name: str) -> bool:
        return self.store.exists(manifest_key(name))

    def _local_stat(self, name: str) -> tuple[int, int, int] | None:
        """(inode, size, mtime ns) of the manifest file on a local store: a commit replaces the file
        (a new inode), so an unchanged stat means an unchanged manifest. None on other stores."""
        root = getattr(self.store, "root", None)
        if not isinstance(root, Path):
            return None
        try:
            st = os.stat(root / manifest_key(name))
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _manifest_bytes(self, name: str) -> bytes:
        try:
            return self.store.get(manifest_key(name))
        except ObjectNotFound:
            hint = did_you_mean(name, self.names())
            raise CorpusNotFound(f"corpus {name!r} not found{hint} (build it with `lakehouse corpus build`)") from None

    def manifest(self, name: str) -> Manifest:
        return Manifest.from_json(self._manifest_bytes(name), manifest_key(name))

    def show(self, name: str) -> dict[str, Any]:
        return self.manifest(name).summary()

    def list(self) -> list[dict[str, Any]]:
        """Every corpus with its size, model and source; one whose manifest cannot be read (a torn
        write) is listed with `unavailable` saying why, so the others stay listed."""
        out: builtins.list[dict[str, Any]] = []
        for name in self.names():
            try:
                m = self.manifest(name)
            except CorpusNotFound:  # dropped since it was listed
                continue
            except (CorpusError, OSError) as exc:
                unknown = dict.fromkeys(("count", "model", "dims", "table", "updated_at"))
                out.append({"name": name, **unknown, "unavailable": str(exc)})
                continue
            out.append(
                {
                    "name": name,
                    "count": m.count,
                    "model": m.model,
                    "dims": m.dims,
                    "table": m.source.table,
                    "updated_at": m.updated_at,
                }
            )
        return out

    def get(self, name: str) -> LoadedCorpus:
        """The corpus in memory as storage has it now: loaded on first use, and again whenever the
        stored manifest differs from the one the copy in memory came from (another process or
        handle committed a new version). A dropped corpus is forgotten (CorpusNotFound)."""
        check_corpus_name(name)
        loaded = self._loaded.get(name)
        seen = self._local_stat(name)
        if loaded is not None and seen is not None and self._stats.get(name) == (seen, loaded.token):
            return loaded  # one stat, on a local store, when nothing changed
        try:
            data = self._manifest_bytes(name)
        except CorpusNotFound:
            self._loaded.pop(name, None)
            raise
        if loaded is not None and loaded.token == data:
            if seen is not None and seen == self._local_stat(name):
                self._stats[name] = (seen, loaded.token)
            return loaded
        with self.lock(name):
            missing: ObjectNotFound | None = None
            for _ in range(3):
                if missing is not None:
                    fresh = self._manifest_bytes(name)
                    if fresh == data:  # not replaced meanwhile: the file is gone, a retry cannot help
                        raise CorpusError(
                            f"corpus {name!r}: its live generation names a file that is gone ({missing}); `lakehouse "
                            f"corpus rollback {name}` or `lakehouse corpus promote {name} GEN` makes a kept one live"
                        )
                    data = fresh
                loaded = self._loaded.get(name)
                if loaded is not None and loaded.token == data:
                    return loaded  # a writer in this process got there while we waited
                try:
                    loaded = self._load(Manifest.from_json(data, manifest_key(name)), data)
                except ObjectNotFound as exc:
                    missing = exc
                    continue  # the index was replaced (and removed) after we read the manifest
                self._set_loaded(name, loaded)
                return loaded
            raise CorpusError(f"corpus {name!r} changed three times while loading it; try again")

    def candidates(self, name: str, where: str) -> set[str]:
        """Ids of the corpus's source rows matching the SQL condition `where` (SQL pre-filter).

        Kept per (table, snapshot, id column, condition): a filter repeated over a table that has
        not changed costs a snapshot lookup (~2 ms) instead of a scan (~200 ms over 500,000 rows).
        The set is shared between callers: read it, do not change it."""
        loaded = self.get(name)
        source = (loaded.manifest or self.manifest(name)).source
        key = (source.table, self.tables.current_snapshot_id(source.table), source.id_col, where)
        with self._locks_guard:
            ids = self._candidates.get(key)
        if ids is None:
            ids = candidate_ids(self.lakehouse, source.table, source.id_col, where)
            # Not kept: a subquery (it may read other tables, whose snapshots are not in the key) and
            # sets too large to hold on to.
            if "select" not in where.lower() and len(ids) <= CANDIDATE_IDS_KEPT:
                with self._locks_guard:
                    self._candidates[key] = ids
                    while len(self._candidates) > CANDIDATE_SETS_KEPT:
                        self._candidates.pop(next(iter(self._candidates)))
        return ids

    def forget(self, name: str | None = None) -> None:
        """Drop in-memory copies (all, or one corpus) so the next use reads storage again."""
        if name is None:
            self._loaded.clear()
            self._recent.clear()
        else:
            self._loaded.pop(name, None)
            self._recent.pop(name, None)

    def _load(self, manifest: Manifest, token: bytes) -> LoadedCorpus:
        same = self._same_index(manifest.name, manifest)
        if same is not None:
            return same.sharing(manifest, token, self._load_adapter(manifest))
        adapter = self._load_adapter(manifest)
        params = HnswParams(
            m=manifest.params["M"],
            ef_construction=manifest.params["ef_construction"],
            ef=manifest.params["ef"],
            threads=self.settings.hnsw_threads,
        )
        with tempfile.TemporaryDirectory(prefix="lh-index-") as tmp:
            path = Path(tmp) / "index.hnsw"
            self.store.get_file(manifest.index_key, path)
            try:
                index = VectorIndex.load(path, manifest.dims, params, deleted=manifest.deleted_labels)
            except RuntimeError as exc:  # hnswlib's word for a cut or damaged file
                raise CorpusError(
                    f"corpus {manifest.name!r}: its index {manifest.index_key} cannot be read ({exc}); "
                    f"`lakehouse corpus rebuild {manifest.name}` builds it again from the stored vectors"
                ) from None
        loaded = LoadedCorpus(manifest.name, index, manifest, token, adapter)
        rows = read_rows(self.tables, manifest, ROW_COLUMNS)
        live = [not d for d in rows.column("deleted").to_pylist()]
        rows = rows.filter(pa.array(live, type=pa.bool_()))
        loaded.remember(*(rows.column(c).to_pylist() for c in ("label", "id", "text", "metadata")))
        return loaded

    # writing -------------------------------------------------------------------------------
    def _commit(
        self,
        manifest: Manifest,
        index: VectorIndex | None,
        live: Manifest | None,
        reason: str,
        adapter: Adapter | None = None,
        make_live: bool = True,
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
            token = self._commit(manifest, index, old, "replace" if old else "build")
            loaded = LoadedCorpus(name, index, manifest, token)
            loaded.remember(labels, rows.ids, rows.texts, rows.metadata)
            self._set_loaded(name, loaded)
            status = "replaced" if old else "created"
            return BuildResult(name, status, len(labels), index.count, rows.skipped_ids, manifest.summary())

    def add(self, name: str, progress: Progress | None = None) -> BuildResult:
        """Embed and index the source rows whose ids the corpus has never seen."""
        with self._operation(name, "add"):
            loaded = self.get(name)  # up to date with storage, whoever wrote last
            manifest = Manifest.from_json(loaded.token, manifest_key(name))
            known = set(read_rows(self.tables, manifest, ["id"]).column("id").to_pylist())  # deleted ids too
            rows = read_source(self.lakehouse, manifest.source, skip_ids=known)
            if not rows.ids:
                return BuildResult(name, "up_to_date", 0, manifest.count, rows.skipped_ids, manifest.summary())
            embedder = self.embedder(manifest.model)
            vectors = row_vectors(lambda texts: embedder.embed(texts, progress=progress), rows)
            labels = list(range(manifest.next_label, manifest.next_label + len(rows.ids)))
            live = Manifest.from_json(loaded.token, manifest_key(name))
            self._unshare(name, loaded)
            loaded.index.add(vectors, labels)
            new_rows = rows_table(labels, rows.ids, rows.texts, rows.metadata, vectors)
            manifest.corpus_snapshot_id = write_rows(self.tables, manifest, name, new_rows)
            manifest.source.snapshot_id = rows.snapshot_id
            manifest.next_label += len(labels)
            manifest.count = loaded.index.count
            manifest.skipped = len(rows.skipped_ids)
            token = self._commit(manifest, loaded.index, live, "add")
            loaded.remember(labels, rows.ids, rows.texts, rows.metadata)
            loaded.manifest, loaded.token = manifest, token
            return BuildResult(name, "added", len(labels), manifest.count, rows.skipped_ids, manifest.summary())

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
