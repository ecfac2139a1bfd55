"""Playbooks: recorded judgements "for query Q, answer A of corpus C scored S" (S in [-1, 1]:
a rating "good" is +1, "wrong" is -1, a judge's pick its confidence).

A later query q learns from the recorded queries nearest to it, not only from an identical one:
the vote (`lakehouse.search.vote`) turns the matches a lookup finds into a score per answer.

Entries are stored in an append-only JSONL log (`lakehouse/common/jsonl.py` torn-tail rules) with the
query embedding, so a restart does not re-embed history. A long-running process (the API) sees
entries other processes append: every read checks the log with one `stat` and reads only the new
tail (`AppendLog.read_since`).

Every entry has an id: the one it was given, else (in an idempotent batch, e.g. an import) a
content hash of its defining fields (query, answer, corpus, score, ts), else a random one. An entry
whose id is already in the log with the same judgement (query, answer, corpus, score) is not stored
again but reported as a `duplicate`, so re-running an import that a crash cut short stores every
entry exactly once; an id that already names another judgement is a `conflict`, never dropped
silently and never overwritten.

With shared state on (`shared`), the log is also flushed to the lakehouse table `_lh_playbooks`, and
lookups see the entries every LH_HOME flushed: each read compares the table's metadata location
(one catalog SELECT) and reads only the data files of new snapshots, never the whole table per query.
"""

from __future__ import annotations

import base64
import logging
import math
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import ValidationError

from lakehouse.common.jsonl import AppendLog, LogCursor
from lakehouse.common.validation import format_validation_error
from lakehouse.search.errors import PlaybookError
from lakehouse.search.playbook_entries import (
    Playbook,
    PlaybookInput,
    PlaybookMatch,
    conflict,
    content_id,
    given_id,
    judged_at,
)

if TYPE_CHECKING:
    from lakehouse.data.shared_log import SharedLog

log = logging.getLogger(__name__)

# Test hook (fault injection): after this many appends in one batch, the process sleeps, so a test
# can SIGKILL an import at a known point. Unset in normal use.
PAUSE_ENV = "LH_FAULT_PLAYBOOK_PAUSE_AFTER"


def _pause_for_tests(appended: int) -> None:
    after = os.environ.get(PAUSE_ENV)
    if after and appended == int(after):
        time.sleep(600)


Validator = Callable[[str, str], None]  # (corpus, answer) -> raises if the answer does not exist


class PlaybookStore:
    def __init__(
        self,
        path: Path | str,
        embedder_factory: Callable[[], Any],
        validate: Validator | None = None,
        half_life_days: float = 30.0,
        min_similarity: float = 0.6,
        shared: SharedLog | None = None,
    ) -> None:
        self.log = AppendLog(path)
        self.shared = shared
        self._remote_generation: int | None = None  # of the shared table's rows taken in
        self._remote_seen = 0
        self._embedder_factory = embedder_factory
        self._validate = validate
        self.half_life_days = half_life_days
        self.min_similarity = min_similarity
        self._entries: list[Playbook] = []
        self._ids: set[str] = set()
        self._per_corpus: Counter[str] = Counter()
        self._matrix: np.ndarray | None = None  # one row per entry: a view of `_buffer`
        self._buffer = np.zeros((0, 0), np.float32)
        self._cursor: LogCursor | None = None  # how far the log has been read
        self._lock = threading.RLock()

    @property
    def embedder(self):
        return self._embedder_factory()

    # loading -----------------------------------------------------------------------------
    def _parse(self, raw: dict[str, Any], number: int) -> Playbook | None:
        """A stored record as an entry, held to what a writer accepts (a record edited by hand or
        written by another program: a NaN score voted with full weight, a ts without a zone failed
        every search); None, said on stderr with its line, when it is not one."""
        try:
            score = float(raw["score"])
            if not -1.0 <= score <= 1.0:  # NaN fails too
                raise ValueError(f"score {raw['score']!r} is not a number from -1 to 1")
            query, corpus = raw["query"], raw["corpus"]
            if not (isinstance(query, str) and query and isinstance(corpus, str) and corpus):
                raise TypeError(f"query {query!r} and corpus {corpus!r} must be text")
            ts = judged_at(datetime.fromisoformat(raw["ts"]))  # no zone: UTC, as writers take it
            vector = np.frombuffer(base64.b64decode(raw.get("vector") or "", validate=True), dtype="<f4")
            model, answer = raw.get("model") or "", str(raw["answer"])
            entry = Playbook(str(raw["id"]), ts, query, answer, corpus, score, model, vector.astype(np.float32))
        except (KeyError, ValueError, TypeError) as exc:
            where = f"line {number}" if number else "a record of the shared table"
            problem = f"{self.log.path}, {where}: skipped ({type(exc).__name__}: {exc})"
            self.log.report.repairs.append(problem)
            log.warning("%s", problem)
            return None
        return entry

    def _load(self) -> list[Playbook]:
        """The entries, brought up to date with the log (the caller holds the lock): one `stat`
        when nothing changed; otherwise only what was appended since the last read (by this
        process or any other) is parsed, and only entries recorded under another model are
        embedded again."""
        remote = self._remote_news()
        if self._matrix is not None and not remote and not self.log.changed(self._cursor):
            return self._entries
        records, cursor, reset = self.log.read_since(self._cursor)
        if reset or self._matrix is None:
            self._entries, self._ids, self._per_corpus = [], set(), Counter()
            self._buffer = np.zeros((0, 0), np.float32)
            self._matrix = self._buffer
            remote = self._remote_news(everything=True)
        start = self._cursor.lines if self._cursor is not None and not reset else 0
        fresh = []
        numbered = [(0, raw) for raw in remote] + list(enumerate(records, start=start + 1))
        for number, raw in numbered:
            entry = self._parse(raw, number)
            if entry is None or entry.id in self._ids:
                continue  # a duplicate line (two writers raced outside `exclusive`): first wins
            fresh.append(entry)
            self._ids.add(entry.id)
            self._per_corpus[entry.corpus] += 1
        if fresh:
            # The model loads only now: a home with no playbooks never loads it to search
            embedder = self.embedder
            stale = [e for e in fresh if e.model != embedder.name or e.vector.shape != (embedder.dims,)]
            if stale:  # recorded under another model: embed the query again
                for entry, vector in zip(stale, embedder.embed([e.query for e in stale]), strict=False):
                    entry.vector = vector
            # Rows go into a buffer that doubles when full: appending one entry does not copy them all.
            have, need = len(self._entries), len(self._entries) + len(fresh)
            if need > len(self._buffer):
                grown = np.zeros((max(need, 64, 2 * len(self._buffer)), embedder.dims), np.float32)
                if have:  # (an empty buffer has no columns yet: the model was not loaded)
                    grown[:have] = self._buffer[:have]
                self._buffer = grown
            self._buffer[have:need] = np.stack([e.vector for e in fresh])
            self._entries.extend(fresh)
            self._matrix = self._buffer[:need]
        self._cursor = cursor
        return self._entries

    def _remote_news(self, everything: bool = False) -> list[dict[str, Any]]:
        """Records of the shared table not taken in yet (all of them with `everything`); when the
        table was replaced, everything is read again (the caller holds the lock)."""
        if self.shared is None:
            return []
        generation, rows = self.shared.remote()
        if generation != self._remote_generation and not everything:
            self._matrix, self._cursor = None, None  # start over: the caller reloads the local log too
        start = 0 if everything or generation != self._remote_generation else self._remote_seen
        self._remote_generation, self._remote_seen = generation, len(rows)
        return [row.record for row in rows[start:]]

    def entries(self) -> list[Playbook]:
        with self._lock:
            return list(self._load())

    def keeps(self, corpora: Iterable[str]) -> bool:
        """Whether any entry answers from one of `corpora` (read without loading the model)."""
        with self._lock:
            self._load()
            return any(self._per_corpus[name] for name in corpora)

    def reload(self) -> None:
        """Forget what was read: the next use reads the whole log again."""
        with self._lock:
            self._entries, self._ids, self._matrix, self._cursor = [], set(), None, None
            self._per_corpus = Counter()
            self._remote_generation, self._remote_seen = None, 0

    # recording ---------------------------------------------------------------------------
    def _parse_input(self, raw: Any) -> PlaybookInput:
        if isinstance(raw, PlaybookInput):
            return raw
        if not isinstance(raw, dict):
            raise PlaybookError(f"expected an object with query, answer, corpus, score; got {type(raw).__name__}")
        try:
            return PlaybookInput.model_validate(raw)
        except ValidationError as exc:
            raise PlaybookError(format_validation_error(exc)) from None

    def check(self, raw: Any) -> PlaybookInput:
        """The entry parsed, or the error that keeps it from being recorded (PlaybookError, the
        corpus's or the answer's not-found error)."""
        item = self._parse_input(raw)
        if self._validate is not None:
            self._validate(item.corpus, item.answer)
        return item

    def record(self, query: str, answer: str, corpus: str, score: float, ts: datetime | None = None) -> Playbook:
        """Record one entry; raises PlaybookError (nothing stored) when it is invalid."""
        result = self.record_many([{"query": query, "answer": answer, "corpus": corpus, "score": score, "ts": ts}])
        first = result["results"][0]
        if "error" in first:
            raise PlaybookError(first["error"])
        return next(e for e in self.entries() if e.id == first["id"])

    def record_many(self, items: list[Any], idempotent: bool = False) -> dict[str, Any]:
        """Record a batch: `{recorded, skipped, failed, results: [{index, id} | {index, id, status:
        "duplicate"} | {index, id?, status?: "conflict", error}]}`.

        Each entry stands alone: an invalid one is reported and the others are still stored. An
        entry's id is its `id`, else (with `idempotent`) a content hash, else a new random id; an
        id already in the log (or earlier in the batch) with the same judgement is skipped as a
        duplicate, with another judgement it is a conflict (an error). The check and the appends
        run under the log's cross-process lock, so two importers never both store it."""
        results: list[dict[str, Any]] = []
        parsed: list[tuple[int, str, PlaybookInput]] = []
        for index, raw in enumerate(items):
            try:
                item = self._parse_input(raw)
            except (PlaybookError, ValueError) as exc:
                results.append({"index": index, "id": given_id(raw), "error": str(exc)})
                continue
            entry_id = item.id or (content_id(item) if idempotent else f"pb-{uuid.uuid4().hex[:16]}")
            parsed.append((index, entry_id, item))
        with self._lock:
            held = self._stored({entry_id for _, entry_id, _ in parsed})
        # A recorded judgement sent again is a duplicate even if its corpus or answer has gone since
        # (a re-import of an export), so only the entries not held yet are checked against them.
        pending: list[tuple[int, str, PlaybookInput]] = []
        batch: dict[str, PlaybookInput] = {}
        for index, entry_id, item in parsed:
            have = held.get(entry_id) or batch.get(entry_id)
            if have is not None:
                results.append(self._seen(index, entry_id, item, have))
                continue
            try:
                self.check(item)
            except (PlaybookError, LookupError, ValueError) as exc:
                results.append({"index": index, "id": entry_id if item.id else None, "error": str(exc)})
                continue
            batch[entry_id] = item
            pending.append((index, entry_id, item))
        embedder = self.embedder
        vectors = embedder.embed([item.query for _, _, item in pending]) if pending else []
        now = datetime.now(UTC)
        appended = 0
        with self._lock, self.log.exclusive():
            held = self._stored({entry_id for _, entry_id, _ in pending})  # what others stored since
            for (index, entry_id, item), vector in zip(pending, vectors, strict=False):
                if entry_id in held:
                    results.append(self._seen(index, entry_id, item, held[entry_id]))
                    continue
                entry = Playbook(
                    entry_id,
                    item.ts or now,
                    item.query,
                    item.answer,
                    item.corpus,
                    float(item.score),
                    embedder.name,
                    np.asarray(vector, np.float32),
                )
                try:
                    self.log.append(entry.record())
                except OSError as exc:
                    results.append({"index": index, "id": entry_id, "error": f"could not store the entry: {exc}"})
                    continue
                results.append({"index": index, "id": entry.id})
                appended += 1
                _pause_for_tests(appended)
            self._load()  # our own lines: read back through the cursor, like anyone else's
        results.sort(key=lambda r: r["index"])
        failed = sum("error" in r for r in results)
        skipped = sum(r.get("status") == "duplicate" for r in results)
        return {"recorded": len(results) - failed - skipped, "skipped": skipped, "failed": failed, "results": results}

    def held(self, ids: set[str]) -> dict[str, Playbook]:
        """The recorded entries among these ids (by id)."""
        with self._lock:
            return self._stored(ids)

    def _stored(self, ids: set[str]) -> dict[str, Playbook]:
        """The entries the log holds under these ids, brought up to date (the caller holds the lock)."""
        entries = self._load()
        if not ids & self._ids:
            return {}
        return {e.id: e for e in entries if e.id in ids}

    @staticmethod
    def _seen(index: int, entry_id: str, item: PlaybookInput, have: PlaybookInput | Playbook) -> dict[str, Any]:
        """The result of an entry whose id is taken: a duplicate of the same judgement, else a conflict."""
        problem = conflict(entry_id, item, have)
        if problem is None:
            return {"index": index, "id": entry_id, "status": "duplicate"}
        return {"index": index, "id": entry_id, "status": "conflict", "error": problem}

    # lookup ------------------------------------------------------------------------------
    def decay(self, ts: datetime, now: datetime) -> float:
        """0.5 per half-life of age. The age counts in whole hours (0.1 % of the default 30-day
        half-life): a vote must not depend on the second a search runs, or two runs of the same
        lift would train and score on features that differ in their last bits."""
        if self.half_life_days <= 0:
            return 1.0
        age_days = max(0.0, (now - ts).total_seconds() // 3600 / 24)
        return math.pow(0.5, age_days / self.half_life_days)

    def lookup(
        self,
        query_vector: np.ndarray,
        corpora: list[str] | None = None,
        min_similarity: float | None = None,
        now: datetime | None = None,
        limit: int | None = None,
    ) -> list[PlaybookMatch]:
        """Entries recorded on queries similar to this one (of these corpora), most similar first."""
        return self.lookup_many(np.atleast_2d(query_vector), corpora, min_similarity, now, limit)[0]

    def lookup_many(
        self,
        query_vectors: np.ndarray,
        corpora: list[str] | None = None,
        min_similarity: float | None = None,
        now: datetime | None = None,
        limit: int | None = None,
    ) -> list[list[PlaybookMatch]]:
        """`lookup` for each row of `query_vectors`, the entries brought up to date once for all.
        (One matrix-vector product per query, as a search of that query alone computes it: a block
        product would round the last bit differently, and the same query must score the same.)"""
        floor = self.min_similarity if min_similarity is None else min_similarity
        now = now or datetime.now(UTC)
        queries = np.asarray(query_vectors, dtype=np.float32)
        with self._lock:
            entries = self._load()  # appended to in place, never reordered: positions stay valid
            matrix = self._matrix
        if not entries or matrix is None or not len(matrix):
            return [[] for _ in queries]
        found = []
        for query in queries:
            sims = matrix @ query
            matches: list[PlaybookMatch] = []
            for position in most_similar_first(sims, floor, limit or len(sims)):
                entry = entries[position]
                if corpora is not None and entry.corpus not in corpora:
                    continue
                sim = float(sims[position])
                closeness = 1.0 if floor >= 1.0 else min(1.0, (sim - floor) / (1.0 - floor))
                decay = self.decay(entry.ts, now)
                matches.append(PlaybookMatch(entry, sim, entry.score * decay * closeness, decay))
                if limit is not None and len(matches) >= limit:
                    break
            found.append(matches)
        return found

    def close(self) -> None:
        pass


def most_similar_first(sims: np.ndarray, floor: float, batch: int) -> Iterator[int]:
    """Positions whose similarity is at least `floor`, most similar first (ties: the earlier entry
    first, as a stable sort), ordering only as many as the caller takes: `batch` at first, then
    twice as many each time it wants more. A search wants 20 neighbours of a history of 50,000;
    sorting them all was most of a search's playbook time."""
    above = np.flatnonzero(sims >= floor)
    values = sims[above]
    done = 0
    while done < len(above):
        k = min(len(above), max(batch, 2 * done))
        chosen = above if k == len(above) else above[values >= np.partition(values, len(above) - k)[len(above) - k]]
        order = chosen[np.argsort(-sims[chosen], kind="stable")]
        yield from order[done:].tolist()
        done = len(order)
