"""Generations of a corpus: the part of `CorpusManager` that keeps, lists, stages, promotes and
rolls back generations, and the copies of earlier generations kept in memory for a cheap swap.

Every commit (build, replace, add, delete, rebuild) and every `stage` is generation N, an immutable
copy of its manifest at `_vectors/<name>/generations/<N>.json`, created (never overwritten: two
writers cannot both name N) before the live `manifest.json` is replaced, and that only if it is
still the one the writer started from (a compare-and-swap). `promote` / `rollback` make a kept
generation live by rewriting `manifest.json` alone (one atomic conditional write): a search in
flight finishes on the `LoadedCorpus` it started with, the next `get` sees the new generation,
none sees a half-written one. The last `corpus_generations_kept` generations (and the live one)
keep the index and adapter files they name; the rest are pruned.
"""

from __future__ import annotations

import builtins
import logging
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from lakehouse.common.hostlock import HostLocks
from lakehouse.data.storage import ObjectChanged, ObjectExists, ObjectNotFound
from lakehouse.search.adapter import Adapter, AdapterError
from lakehouse.search.errors import CorpusLiveChanged, CorpusManifestUnreadable, CorpusWriteConflict
from lakehouse.search.vectors.loaded import LoadedCorpus
from lakehouse.search.vectors.manifest import (
    CorpusError,
    CorpusNotFound,
    Manifest,
    corpus_prefix,
    generation_key,
    generations_prefix,
    manifest_key,
    now_iso,
)

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from lakehouse.config import Settings

HISTORY_KEPT = 20  # previously live generations remembered in manifest.json (what rollback walks back)
RECENT_KEPT = 3  # copies of earlier generations per corpus kept in memory for a cheap swap back
_OBJECT = re.compile(r"^(?:index|adapter)-(\d+)(?:-[0-9a-f]+)?\.(?:hnsw|npz)$")


def _checked_adapter(name: str, adapter: Any, dims: int) -> Adapter:
    """A query adapter as stored and applied: an `Adapter` (a bare finite (dims, dims) matrix is
    an adapter without moved rows) whose dimensions fit the corpus."""
    if not isinstance(adapter, Adapter):
        matrix = np.asarray(adapter)
        if matrix.shape != (dims, dims):
            raise CorpusError(
                f"corpus {name!r}: an adapter must be a ({dims}, {dims}) matrix, got shape {matrix.shape}"
            )
        if not np.issubdtype(matrix.dtype, np.number) or not np.isfinite(matrix).all():
            raise CorpusError(f"corpus {name!r}: the adapter holds non-finite or non-numeric values")
        adapter = Adapter(matrix.astype(np.float32))
    if adapter.dims != dims:
        raise CorpusError(f"corpus {name!r} holds {dims}-dim vectors; the adapter is {adapter.dims}-dim")
    return adapter


class Generations:
    """Mixed into `CorpusManager` (which provides the store, settings, locks and `_commit`)."""

    settings: Settings
    _loaded: dict[str, LoadedCorpus]
    _recent: dict[str, builtins.list[LoadedCorpus]]
    _host_locks: HostLocks

    if TYPE_CHECKING:

        @property
        def store(self) -> Any: ...

        def manifest(self, name: str) -> Manifest: ...

        def _manifest_bytes(self, name: str) -> bytes: ...

        def _operation(self, name: str, op: str) -> Any: ...

        def _commit(
            self,
            manifest: Manifest,
            index: Any,
            live: Manifest | None,
            reason: str,
            adapter: Adapter | None = None,
            make_live: bool = True,
            changes: dict[str, int] | None = None,
        ) -> bytes: ...

    # copies in memory ----------------------------------------------------------------------
    def _set_loaded(self, name: str, loaded: LoadedCorpus) -> None:
        """Make `loaded` the copy `get` hands out; the one it replaces is kept for a cheap swap back."""
        old = self._loaded.get(name)
        self._loaded[name] = loaded
        if old is not None and old is not loaded:
            recent = [old, *(r for r in self._recent.get(name, []) if r is not old and r is not loaded)]
            self._recent[name] = recent[:RECENT_KEPT]

    def _unshare(self, name: str, loaded: LoadedCorpus) -> None:
        """`loaded`'s index and rows are about to change in place (add, delete): copies of other
        generations sharing them would no longer match their manifests, so they are let go."""
        self._recent[name] = [r for r in self._recent.get(name, []) if r.index is not loaded.index]

    def _copies(self, name: str) -> builtins.list[LoadedCorpus]:
        """The copies of a corpus in memory: the current one first, then the earlier ones."""
        current = self._loaded.get(name)
        return ([current] if current is not None else []) + self._recent.get(name, [])

    def _same_index(self, name: str, manifest: Manifest) -> LoadedCorpus | None:
        """A copy in memory over the same index file, rows and deletions as `manifest`."""
        for copy in self._copies(name):
            m = copy.manifest
            if (
                m is not None
                and m.index_key == manifest.index_key
                and m.corpus_snapshot_id == manifest.corpus_snapshot_id
                and m.deleted_labels == manifest.deleted_labels
                and m.next_label == manifest.next_label
            ):
                return copy
        return None

    def _load_adapter(self, manifest: Manifest) -> Adapter | None:
        if manifest.adapter_key is None:
            return None
        for copy in self._copies(manifest.name):  # adapter files never change: reuse one in memory
            if copy.manifest is not None and copy.manifest.adapter_key == manifest.adapter_key:
                return copy.adapter
        try:
            adapter = Adapter.from_bytes(self.store.get(manifest.adapter_key))
        except AdapterError as exc:
            raise CorpusError(self._damaged_adapter(manifest, exc)) from None
        return _checked_adapter(manifest.name, adapter, manifest.dims)

    def _damaged_adapter(self, manifest: Manifest, exc: AdapterError) -> str:
        """What a generation whose adapter file does not read says: which corpus, generation and
        file, and the generations that a promote can make live instead (those without that file)."""
        name = manifest.name
        without = [m.generation for m in self._readable_generations(name) if m.adapter_key != manifest.adapter_key]
        way_out = (
            f"`lakehouse corpus promote {name} GEN` makes a generation without it live "
            f"(generations without it: {sorted(without, reverse=True)})"
            if without
            else f"no kept generation is without it: `lakehouse corpus build {name} ... --replace` builds it again"
        )
        return f"corpus {name!r} generation {manifest.generation}: its adapter {manifest.adapter_key}: {exc}; {way_out}"

    # generation files --------------------------------------------------------------------
    def _generation_numbers(self, name: str) -> builtins.list[int]:
        numbers = []
        for key in self.store.list(generations_prefix(name)):
            stem = key.rsplit("/", 1)[-1].removesuffix(".json")
            if stem.isdigit():
                numbers.append(int(stem))
        return sorted(numbers)

    def _name_generation(self, manifest: Manifest) -> None:
        """Write generation N's file, which names it: only if the corpus lock is still held, and
        only if no other writer named N first (a create, not a put)."""
        name, generation = manifest.name, manifest.generation
        conflict = (
            f"generation {generation} of corpus {name!r} was named by another writer meanwhile (one "
            "that had lost the corpus lock); nothing of this write is live: run it again"
        )
        with self._conditional_write(name, conflict):
            self.store.create(generation_key(name, generation), manifest.to_json())

    def _publish_live(self, name: str, live: Manifest | None, manifest: Manifest, torn: bytes | None = None) -> bytes:
        """Make `manifest` the live one, only if the live one is still `live` (what this writer read
        under the corpus lock; None: no corpus yet; `torn`: the unreadable bytes it found instead)
        and the lock is still held. Returns the stored bytes."""
        key, data = manifest_key(name), manifest.to_json()
        conflict = (
            f"corpus {name!r} changed meanwhile: another writer (one that had lost the corpus lock) "
            f"changed what is live, so generation {manifest.generation} was not made live; "
            f"`lakehouse corpus generations {name}` lists the generations: run this write again"
        )
        with self._conditional_write(name, conflict):
            if live is None and torn is None:
                self.store.create(key, data)
            else:
                current, version = self.store.read_versioned(key)
                as_read = torn if live is None else live.to_json()
                if (current if live is None else Manifest.from_json(current, key).to_json()) != as_read:
                    raise ObjectChanged(f"{key} is not the manifest this write started from")
                self.store.replace(key, data, version)
        return data

    @contextmanager
    def _conditional_write(self, name: str, conflict: str) -> Iterator[None]:
        """A create or compare-and-swap of the corpus's files, begun only while its lock is still
        held (an index upload takes a while). Refused, it is reported as the lost lock it was, or
        else as `CorpusWriteConflict(conflict)`: a writer that had lost the lock got there first."""
        self._host_locks.check(f"corpus-{name}")
        try:
            yield
        except (ObjectChanged, ObjectExists, ObjectNotFound):
            self._host_locks.check(f"corpus-{name}")
            raise CorpusWriteConflict(conflict) from None

    def _prune(self, name: str, live: Manifest | None) -> None:
        """Keep the newest `corpus_generations_kept` generations, the live one and the one it
        replaced (what `rollback` goes back to: after a rollback to an old generation, the next
        change must not delete it); delete the other generation files, then index and adapter
        files no kept generation names. Only files older than the newest kept generation go: a
        newer one may be a commit still in flight.

        A staged generation never made live (an adapter the gate refused) does not count: it is
        kept only while it is among the newest of all, so nightly refused adapts do not push the
        generations that were live out of the window."""
        numbers = self._generation_numbers(name)
        window = self.settings.corpus_generations_kept
        manifests: dict[int, Manifest] = {}
        unreadable = False
        for number in numbers:
            key = generation_key(name, number)
            try:
                manifests[number] = Manifest.from_json(self.store.get(key), key)
            except ObjectNotFound:
                continue
            except CorpusError as exc:  # the change is live already: failing now would say it was not
                log.warning("%s; its index and adapter files are kept", exc)
                unreadable = True
        was_live = {live.generation, *live.history} if live is not None else set()
        waiting = {n for n, m in manifests.items() if m.staged and n not in was_live}
        kept = set([n for n in numbers if n not in waiting][-window:]) | (waiting & set(numbers[-window:]))
        if live is not None:
            kept.add(live.generation)
            kept.update(live.history[:1])
        referenced: set[str | None] = set()
        if live is not None:
            referenced |= {live.index_key, live.adapter_key}
        for number in numbers:
            if number not in kept:
                self._delete_quietly(generation_key(name, number))
            elif number in manifests:
                referenced |= {manifests[number].index_key, manifests[number].adapter_key}
        if unreadable:
            return  # which files it names is not known: none goes
        newest = max(kept, default=0)
        prefix = corpus_prefix(name)
        for key in self.store.list(prefix):
            match = _OBJECT.match(key[len(prefix) :])
            if match and key not in referenced and int(match.group(1)) < newest:
                self._delete_quietly(key)

    def _delete_quietly(self, key: str) -> None:
        try:
            self.store.delete(key)
        except ObjectNotFound:
            pass  # another process removed it first

    # stage, promote and rollback ---------------------------------------------------------
    def generation_of(self, name: str, generation: int, live: Manifest | None = None) -> Manifest:
        """The manifest of generation `generation` as it was committed (NOT_FOUND lists the kept
        ones). `live`: the live manifest as read (None: read it; not when a generation file is found)."""
        key = generation_key(name, generation)
        try:
            return Manifest.from_json(self.store.get(key), key)
        except ObjectNotFound:
            live = live or self.manifest(name)
            if generation == live.generation:
                return live  # a corpus from before generations: only its live manifest exists
        numbers = sorted(set(self._generation_numbers(name)) | {live.generation}, reverse=True)
        raise CorpusNotFound(
            f"corpus {name!r} has no generation {generation}; its generations are {numbers} "
            f"(live: {live.generation}; see `lakehouse corpus generations {name}`)"
        )

    def _readable_generations(self, name: str) -> builtins.list[Manifest]:
        """The kept generation files that read, oldest first."""
        found = []
        for number in self._generation_numbers(name):
            key = generation_key(name, number)
            try:
                found.append(Manifest.from_json(self.store.get(key), key))
            except (ObjectNotFound, CorpusError):
                continue
        return found

    def _parse_live(self, name: str, data: bytes) -> Manifest:
        """The live manifest from its stored bytes; when they do not read (a torn write) the error
        names the way out, which does not need them: promote, rollback or drop."""
        try:
            return Manifest.from_json(data, manifest_key(name))
        except CorpusError as exc:
            committed = [m.generation for m in self._readable_generations(name) if not m.staged]
            if not committed:
                way_out = f"no kept generation can be read: `lakehouse corpus drop {name}` removes the corpus"
            else:
                way_out = (
                    f"`lakehouse corpus rollback {name}` makes its newest committed generation ({committed[-1]}) "
                    f"live again, `lakehouse corpus promote {name} GEN` any kept one (generations: "
                    f"{sorted(self._generation_numbers(name), reverse=True)}); `lakehouse corpus drop {name}` "
                    "removes the corpus"
                )
            raise CorpusManifestUnreadable(f"{exc}; {way_out}") from None

    def generations(self, name: str) -> builtins.list[dict[str, Any]]:
        """The kept generations, newest first: number, whether live, when committed, rows, model,
        adapter metadata (None: no adapter), why it was made and the generation it came from."""
        live = self.manifest(name)
        out = []
        for number in sorted(set(self._generation_numbers(name)) | {live.generation}, reverse=True):
            try:
                m = self.generation_of(name, number)
            except CorpusNotFound:
                continue  # pruned by another process since the listing
            except CorpusError as exc:  # one bad file must not hide the others (nor block a rollback)
                log.warning("%s: not listed", exc)
                continue
            out.append(
                {
                    "generation": m.generation,
                    "live": m.generation == live.generation,
                    "created_at": m.updated_at,
                    "count": m.count,
                    "model": m.model,
                    "adapter": (m.adapter or {}) if m.adapter_key else None,
                    "reason": m.reason or "build",
                    "parent": m.parent,
                    "index_key": m.index_key,
                }
            )
        return out

    def stage(
        self,
        name: str,
        *,
        adapter: Adapter | np.ndarray | None,
        adapter_meta: dict[str, Any] | None = None,
        reason: str = "adapt",
    ) -> int:
        """A new generation over the live generation's index and rows with this query adapter (None:
        without one, "clear the adapter"); NOT live until `promote`. Returns its number."""
        with self._operation(name, "stage"):
            live = self.manifest(name)
            matrix = None if adapter is None else _checked_adapter(name, adapter, live.dims)
            manifest = Manifest.from_json(live.to_json(), manifest_key(name))
            manifest.adapter_key = None
            manifest.adapter = dict(adapter_meta or {}) if matrix is not None else None
            self._commit(manifest, None, live, reason or "adapt", adapter=matrix, make_live=False)
            return manifest.generation

    def writing(self, name: str) -> AbstractContextManager[None]:
        """Hold the corpus's write lock across several operations (stage, then promote): no writer
        in this or another process commits between them."""
        return self._operation(name, "write")

    def promote(self, name: str, generation: int, expected_live: int | None = None) -> dict[str, Any]:
        """Make a kept generation live: one atomic put of manifest.json (that generation's manifest,
        with `promoted_at` and the history rollback walks back through). Searches already running
        finish on the generation they started on; the next `get` sees the new one. With
        `expected_live` (the live generation the caller saw) nothing changes if another is live."""
        with self._operation(name, "promote"):
            try:
                live = self._live_as_seen(name, expected_live)
            except CorpusManifestUnreadable:
                return self._restore(name, generation, "promote")
            target = self.generation_of(name, generation, live)
            return self._make_live(name, target, live, [live.generation, *live.history], "promote")

    def rollback(self, name: str, generation: int | None = None, expected_live: int | None = None) -> dict[str, Any]:
        """Make the previously live generation live again (or `generation`). Repeated rollbacks
        walk further back through the generations that were live, while they are kept."""
        with self._operation(name, "rollback"):
            try:
                live = self._live_as_seen(name, expected_live)
            except CorpusManifestUnreadable:
                return self._restore(name, generation, "rollback")
            if generation is not None:
                target = self.generation_of(name, generation, live)
                return self._make_live(name, target, live, [live.generation, *live.history], "rollback")
            kept = set(self._generation_numbers(name))
            earlier = [g for g in live.history if g in kept and g != live.generation]
            if not earlier:
                raise CorpusError(
                    f"corpus {name!r}: nothing to roll back to: no generation live before {live.generation} "
                    f"is still kept (generations: {sorted(kept | {live.generation}, reverse=True)}); "
                    f"`lakehouse corpus promote {name} GEN` makes any kept one live"
                )
            target = self.generation_of(name, earlier[0], live)
            history = live.history[live.history.index(earlier[0]) + 1 :]
            return self._make_live(name, target, live, history, "rollback")

    def _live_as_seen(self, name: str, expected: int | None) -> Manifest:
        """The live manifest, when it is the generation the caller saw (`expected`; None: any)."""
        live = self.manifest(name)
        if expected is not None and live.generation != expected:
            raise CorpusLiveChanged(
                f"corpus {name!r}: generation {live.generation} is live now, not {expected} as you saw it "
                "(another change came first): nothing changed; look again before you switch"
            )
        return live

    def _restore(self, name: str, generation: int | None, action: str) -> dict[str, Any]:
        """Make a kept generation live in place of a live manifest that does not read (a torn
        write): `generation`, or else the newest one committed live (a staged one waits for its
        promote). `previous` is 0: which generation was live cannot be read."""
        torn = self._manifest_bytes(name)
        if generation is not None:
            key = generation_key(name, generation)
            try:
                target = Manifest.from_json(self.store.get(key), key)
            except ObjectNotFound:
                raise CorpusNotFound(
                    f"corpus {name!r} has no generation {generation}; its kept generations are "
                    f"{sorted(self._generation_numbers(name), reverse=True)} (its live manifest is unreadable)"
                ) from None
        else:
            committed = [m for m in self._readable_generations(name) if not m.staged]
            if not committed:
                raise CorpusManifestUnreadable(
                    f"corpus {name!r}: its live manifest is unreadable and no kept generation it could go back "
                    f"to reads: `lakehouse corpus drop {name}` removes the corpus"
                )
            target = committed[-1]
        self._check_files(name, target)
        target.promoted_at, target.staged = now_iso(), False
        self._publish_live(name, None, target, torn=torn)
        return {
            "corpus": name,
            "action": action,
            "live": target.generation,
            "previous": None,
            "changed": True,
            "manifest": target.summary(),
        }

    def _check_files(self, name: str, target: Manifest) -> None:
        """The files `target` names are there and its adapter reads (a damaged adapter file was
        promoted, then failed every search)."""
        for key in (target.index_key, target.adapter_key):
            if key is not None and not self.store.exists(key):
                raise CorpusError(f"corpus {name!r}: generation {target.generation} names {key}, which is gone")
        self._load_adapter(target)

    def _make_live(
        self, name: str, target: Manifest, live: Manifest, history: builtins.list[int], action: str
    ) -> dict[str, Any]:
        out = {"corpus": name, "action": action, "live": target.generation, "previous": live.generation}
        if target.generation == live.generation:
            return {**out, "changed": False, "manifest": live.summary()}
        self._check_files(name, target)
        target.promoted_at, target.staged = now_iso(), False
        # the target stays in the history too: it may have been live before a generation the walk
        # back reaches (promote 1 from 3, roll back to 3, then 2: 1 was live before 2); rollback
        # passes over the live one
        target.history = history[:HISTORY_KEPT]
        self._publish_live(name, live, target)
        if target.index_key != live.index_key:
            # a generation is its rows too: a staged adapter promoted after adds and deletes brought
            # deleted rows back without a word
            out["rows"] = (
                f"generation {target.generation} searches the {target.count} rows it was made with (generation "
                f"{live.generation} searched {live.count}): rows added or deleted since are undone; "
                f"`lakehouse corpus add {name}` indexes the table's new rows again, `corpus delete` deletes again"
            )
        return {**out, "changed": True, "manifest": target.summary()}
