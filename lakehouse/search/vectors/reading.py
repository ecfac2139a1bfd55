"""The read side of `CorpusManager`: which corpora exist, their manifests, and each corpus in memory
as storage has it now (`get`; freshness is described in `corpus.py`), with its SQL pre-filter."""

from __future__ import annotations

import builtins
import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakehouse.common.suggest import did_you_mean
from lakehouse.data.storage import ObjectNotFound
from lakehouse.search.vectors.generations import Generations
from lakehouse.search.vectors.index import HnswParams, VectorIndex
from lakehouse.search.vectors.loaded import LoadedCorpus
from lakehouse.search.vectors.manifest import (
    VECTORS_PREFIX,
    CorpusError,
    CorpusNotFound,
    Manifest,
    check_corpus_name,
    manifest_key,
)
from lakehouse.search.vectors.rows import ROW_COLUMNS, read_rows
from lakehouse.search.vectors.source import candidate_ids

CANDIDATE_SETS_KEPT = 16
CANDIDATE_IDS_KEPT = 1_000_000


class CorpusReading(Generations):
    """Mixed into `CorpusManager` (which provides the lakehouse, the tables, the locks and the caches)."""

    lakehouse: Any
    _stats: dict[str, tuple]
    _locks_guard: threading.Lock
    _candidates: dict[tuple, set[str]]

    if TYPE_CHECKING:

        @property
        def tables(self) -> Any: ...

        def lock(self, name: str) -> threading.RLock: ...

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
        return self._parse_live(name, self._manifest_bytes(name))

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
                    loaded = self._load(self._parse_live(name, data), data)
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
