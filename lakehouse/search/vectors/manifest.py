"""A corpus manifest: what the index under `_vectors/<corpus>/` holds and how to rebuild it.

The manifest is the commit point. A build or add writes the corpus table, then a new index file
(and adapter, if any) named by its generation and a tag of the writer's own, then an immutable copy
of the manifest as generation N (`generations/<N>.json`), then the live `manifest.json`; a crash
before the live manifest leaves the previous one pointing at the previous index file and table
snapshot, so a reader never sees a half-written corpus. Promote / rollback make an earlier (or
staged) generation live by rewriting `manifest.json` alone: the index files and table snapshots a
kept generation names stay.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from lakehouse.data.table_names import CORPUS_TABLE_PREFIX
from lakehouse.search.errors import (  # noqa: F401 (re-exported)
    CorpusError,
    CorpusExists,
    CorpusManifestUnreadable,
    CorpusNotFound,
)

VECTORS_PREFIX = "_vectors"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def check_corpus_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise CorpusError(
            f"corpus name {name!r} is invalid: use lower-case letters, digits and '_', "
            "starting with a letter, at most 63 characters (e.g. 'occupations')"
        )
    return name


def corpus_prefix(name: str) -> str:
    return f"{VECTORS_PREFIX}/{check_corpus_name(name)}/"


def manifest_key(name: str) -> str:
    return corpus_prefix(name) + "manifest.json"


def index_key(name: str, version: int, writer: str = "") -> str:
    """`writer` (a commit's own random tag) keeps apart the files of two writers that chose the
    same generation number: one that lost its lock mid-upload never overwrites the other's."""
    return corpus_prefix(name) + f"index-{version:06d}{'-' + writer if writer else ''}.hnsw"


def generations_prefix(name: str) -> str:
    return corpus_prefix(name) + "generations/"


def generation_key(name: str, generation: int) -> str:
    return generations_prefix(name) + f"{generation:06d}.json"


def adapter_key(name: str, generation: int, writer: str = "") -> str:
    return corpus_prefix(name) + f"adapter-{generation:06d}{'-' + writer if writer else ''}.npz"


def corpus_table_name(name: str) -> str:
    return CORPUS_TABLE_PREFIX + check_corpus_name(name)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


TITLE_AUTO, TITLE_NONE = "auto", "none"


def resolve_title(title: str | None, text_cols: list[str]) -> str | None:
    """The title column a build asks for: `auto` = the first text column when there are two or more
    (`--text Title,Description`), `none` (or empty) = no title, else the named column."""
    title = (title or "").strip()
    if title == TITLE_AUTO:
        return text_cols[0] if len(text_cols) >= 2 else None
    return None if title in ("", TITLE_NONE) else title


@dataclass
class SourceSpec:
    """Where a corpus's rows come from; kept so `add` picks up new rows the same way."""

    table: str
    id_col: str
    text_cols: list[str]
    metadata_cols: list[str] = field(default_factory=list)
    where: str | None = None
    snapshot_id: int | None = None  # source snapshot the corpus last read
    # A short name-like column (a job title) also embedded on its own: the row vector is the mean of
    # the row text's vector and the title's. Long descriptions drown a title that queries look like.
    # None (and every manifest written before titles existed): the row text's vector alone.
    title_col: str | None = None

    def differences(self, other: SourceSpec) -> list[str]:
        """`field: mine -> other's` for each part of the source that differs (the snapshot read aside)."""
        shape = ("table", "id_col", "text_cols", "metadata_cols", "where", "title_col")
        return [
            f"{name} {getattr(self, name)!r} -> {getattr(other, name)!r}"
            for name in shape
            if getattr(self, name) != getattr(other, name)
        ]


@dataclass
class Manifest:
    name: str
    model: str
    dims: int
    params: dict[str, Any]
    source: SourceSpec
    corpus_table: str
    corpus_snapshot_id: int | None
    count: int
    next_label: int
    version: int
    index_key: str
    deleted_labels: list[int] = field(default_factory=list)
    skipped: int = 0
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    # Generations: every commit is generation N (monotonic; a manifest written before generations
    # existed reads as generation = version). `parent` is the generation it was made from.
    generation: int = 0
    parent: int | None = None
    reason: str = ""
    # A query adapter: a float32 (dims, dims) matrix stored with np.save; None = raw queries.
    adapter_key: str | None = None
    adapter: dict[str, Any] | None = None
    # Committed without being made live (an adapter waiting for `promote`); the live copy says False.
    staged: bool = False
    # What an `add` changed, by kind (new, text_changed, metadata_changed, gone); None: another commit.
    changes: dict[str, int] | None = None
    # Set on manifest.json only (not in the generation file): when it was made live, and the
    # generations live before it, most recent first (what `rollback` returns to).
    promoted_at: str | None = None
    history: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.generation:
            self.generation = self.version

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Manifest:
        try:
            raw = json.loads(data)
            # fields of a later release are ignored, the source's too: one of those made every
            # corpus it wrote unreadable to an earlier release (a downgrade after a bad upgrade)
            raw["source"] = SourceSpec(**_known(SourceSpec, raw["source"]))
            return cls(**_known(cls, raw))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # AttributeError: a source not an object
            raise CorpusError(f"{where}: unreadable corpus manifest ({type(exc).__name__}: {exc})") from exc

    def summary(self) -> dict[str, Any]:
        """What `corpus show` prints."""
        out = asdict(self)
        out["deleted"] = len(out.pop("deleted_labels"))
        return out


def _known(kind: type, raw: dict[str, Any]) -> dict[str, Any]:
    """The items of `raw` that are fields of the dataclass `kind`."""
    names = {f.name for f in fields(kind)}
    return {k: v for k, v in raw.items() if k in names}
