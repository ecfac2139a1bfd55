"""Rows of a source table turned into corpus rows (id, text, metadata) and their vectors, and SQL
pre-filter ids.

Everything here only reads; a bad column, a null or duplicate id is reported before any
corpus file or table is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from lakehouse.common.suggest import did_you_mean
from lakehouse.common.text import is_blank
from lakehouse.search.embed.base import normalise
from lakehouse.search.vectors.manifest import CorpusError, SourceSpec

_SAFE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_CANDIDATES = 10_000_000
ID_MAX_CHARS = 1_024  # a longer id could never be rated (`lakehouse.learning.ratings` takes ids this long)


@dataclass
class SourceRows:
    snapshot_id: int | None
    ids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    metadata: list[str] = field(default_factory=list)  # one JSON object per row
    skipped_ids: list[str] = field(default_factory=list)  # rows with no text at all
    titles: list[str] = field(default_factory=list)  # the title column's text per row ("" = none)

    def subset(self, positions: list[int]) -> SourceRows:
        """These rows only (positions into this one), in that order."""
        return SourceRows(
            self.snapshot_id,
            [self.ids[i] for i in positions],
            [self.texts[i] for i in positions],
            [self.metadata[i] for i in positions],
            titles=[self.titles[i] for i in positions] if self.titles else [],
        )


@dataclass
class SourceChanges:
    """How a corpus's rows differ from its source now: what `corpus add` brings up to date."""

    new: list[int] = field(default_factory=list)  # source positions of ids the corpus never held
    text_changed: list[int] = field(default_factory=list)  # held rows whose text changed: embedded again
    metadata_changed: list[int] = field(default_factory=list)  # metadata alone changed: the vector stays
    gone: list[str] = field(default_factory=list)  # held ids the source no longer gives

    def __bool__(self) -> bool:
        return bool(self.new or self.text_changed or self.metadata_changed or self.gone)


def source_changes(rows: SourceRows, known: AbstractSet[str], held: dict[str, tuple[int, str, str]]) -> SourceChanges:
    """`rows` (every row the source gives now) against the corpus: `known` is every id it ever held
    (deleted ones too: an id deleted with `corpus delete` stays out), `held` its live rows by id
    (`LoadedCorpus.held`). A held row the source no longer gives left the table, its --where, or
    its text is blank now. A title column that is not a text column is not stored, so a change of
    the title alone is not seen (`corpus build --replace` embeds everything again)."""
    changes = SourceChanges()
    for position, row_id in enumerate(rows.ids):
        if row_id not in known:
            changes.new.append(position)
        elif row_id in held:
            _, text, metadata = held[row_id]
            if text != rows.texts[position]:
                changes.text_changed.append(position)
            elif metadata != rows.metadata[position]:
                changes.metadata_changed.append(position)
    given = set(rows.ids)
    changes.gone = [row_id for row_id in held if row_id not in given]
    return changes


def row_vectors(embed: Callable[[list[str]], np.ndarray], rows: SourceRows) -> np.ndarray:
    """Each row's vector: its text's, or, when the corpus has a title column, the normalised mean of
    the text's and the title's (a short title weighs as much as the long text it heads; measured on
    real job titles in BENCHMARKS.md "LEARNING"). One `embed` call, so progress counts both."""
    titled = [i for i, title in enumerate(rows.titles) if title]
    if not titled:
        return embed(rows.texts)
    vectors = np.asarray(embed(rows.texts + [rows.titles[i] for i in titled]), dtype=np.float32)
    combined = vectors[: len(rows.texts)].copy()
    combined[titled] += vectors[len(rows.texts) :]
    return normalise(combined)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_table_ref(table: str) -> str:
    """How the SQL engine names a catalog table: bare for the default namespace."""
    parts = table.split(".")
    if len(parts) == 2 and parts[0] == "lakehouse":
        parts = parts[1:]
    return ".".join(p if _SAFE_NAME.match(p) else quote_ident(p) for p in parts)


def _check_columns(spec: SourceSpec, available: list[str], corpus: str | None) -> None:
    wanted = [("--id", spec.id_col)] + [("--text", c) for c in spec.text_cols]
    wanted += [("--meta-cols", c) for c in spec.metadata_cols]
    wanted += [("--title", spec.title_col)] if spec.title_col else []
    for option, column in wanted:
        if column not in available and corpus is not None:  # an add: the option was given at build time
            raise CorpusError(
                f"corpus {corpus!r} was built with {option} {column!r}, but its source table {spec.table!r} no longer "
                f"has that column (columns: {', '.join(available)}); `lakehouse corpus build {corpus} --replace` "
                "with the table's columns as they are now builds it again"
            )
        if column not in available:
            hint = did_you_mean(column, available)
            raise CorpusError(
                f"table {spec.table!r} has no column {column!r} (given as {option}){hint} "
                f"Columns: {', '.join(available)}"
            )
    if not spec.text_cols:
        raise CorpusError("give at least one text column (--text COL[,COL])")
    repeated = sorted({c for c in spec.text_cols if spec.text_cols.count(c) > 1})
    if repeated and corpus is None:  # a corpus built so before keeps adding
        raise CorpusError(
            f"--text names column(s) {repeated} more than once: a row's text would hold them twice; "
            "name each text column once"
        )


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):  # a list column stays a list: a metadata filter matches any element
        return [_json_value(v) for v in value]
    return str(value)  # dates, decimals, timestamps: their ISO / plain text form


def id_text(value: Any) -> str:
    """A row's id as the corpus keeps it: Python's text of the value as Arrow reads it. The SQL
    pre-filter returns its ids through this too (typed, never DuckDB's own text: `true`, `0.1`
    for a float32, `...00.5` or `+00` for timestamps each differ from Python's). A zoned time is
    taken in UTC, as the tables store it, whatever zone the SQL session answers in."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return str(value.astimezone(UTC))
    return str(value)


def read_source(lakehouse, spec: SourceSpec, corpus: str | None = None) -> SourceRows:
    """Rows of `spec.table` (current snapshot) allowed by `spec.where`. `corpus`:
    the corpus built from it (an add), which the messages of a table or column gone since name."""
    tables = lakehouse.tables
    if corpus is not None and not tables.exists(spec.table):
        raise CorpusError(
            f"corpus {corpus!r}: its source table {spec.table!r} no longer exists, so there is nothing to add from; "
            f"ingest the table again under that name, or `lakehouse corpus build {corpus} --table OTHER ... "
            "--replace` builds the corpus from another"
        )
    snapshot_id = tables.current_snapshot_id(spec.table)
    available = [f["name"] for f in tables.describe(spec.table)["schema"]]
    _check_columns(spec, available, corpus)
    title = [spec.title_col] if spec.title_col else []
    columns = list(dict.fromkeys([spec.id_col, *spec.text_cols, *spec.metadata_cols, *title]))
    data = tables.read_arrow(spec.table, columns=columns, snapshot_id=snapshot_id).to_pydict()
    allowed = candidate_ids(lakehouse, spec.table, spec.id_col, spec.where) if spec.where else None
    rows = SourceRows(snapshot_id)
    seen: dict[str, int] = {}
    for position, raw_id in enumerate(data[spec.id_col]):
        line = position + 1
        if raw_id is None:
            raise CorpusError(f"table {spec.table!r} row {line}: id column {spec.id_col!r} is null")
        row_id = id_text(raw_id)
        if row_id in seen:
            raise CorpusError(
                f"table {spec.table!r}: id {row_id!r} in column {spec.id_col!r} appears in rows "
                f"{seen[row_id]} and {line}; corpus ids must be unique"
            )
        seen[row_id] = line
        if corpus is None and len(row_id) > ID_MAX_CHARS:  # an add checks only the ids it adds
            raise_long_id(spec.table, row_id, line)
        if allowed is not None and row_id not in allowed:
            continue
        parts = [str(data[c][position]).strip() for c in spec.text_cols if data[c][position] is not None]
        # blank as a query is: zero-width spaces or control characters alone are no text to embed
        text = "\n".join(p for p in parts if not is_blank(p))
        if not text:
            rows.skipped_ids.append(row_id)
            continue
        # A null is no value: the key is left out, so a metadata filter on it drops the row.
        meta = {c: _json_value(data[c][position]) for c in spec.metadata_cols if data[c][position] is not None}
        rows.ids.append(row_id)
        rows.texts.append(text)
        rows.metadata.append(json.dumps(meta, ensure_ascii=False, sort_keys=True))
        if spec.title_col:
            value = data[spec.title_col][position]
            rows.titles.append("" if value is None else str(value).strip())
    return rows


def raise_long_id(table: str, row_id: str, line: int | None = None) -> None:
    where = f" row {line}" if line is not None else ""
    raise CorpusError(
        f"table {table!r}{where}: id {row_id[:40]!r}... is {len(row_id):,} characters; a corpus id is at most "
        f"{ID_MAX_CHARS:,} (ratings name a row by its id, and could not name this one); nothing was written"
    )


def candidate_ids(lakehouse, table: str, id_col: str, where: str) -> set[str]:
    """Ids of `table` rows matching the SQL condition `where`, through the guarded SQL engine."""
    from lakehouse.data.sql.guard import check_condition

    if not where or not where.strip():
        raise CorpusError("empty --where condition")
    query = f"SELECT DISTINCT {quote_ident(id_col)} AS id FROM {sql_table_ref(table)} WHERE ({where})"
    try:
        check_condition(where)
        result = lakehouse.sql.query(query, row_cap=MAX_CANDIDATES)
    except Exception as exc:
        raise CorpusError(f"--where {where!r} on table {table!r} failed: {exc}") from exc
    if result.truncated:
        raise CorpusError(f"--where {where!r} on table {table!r} matched more than {MAX_CANDIDATES} rows")
    return {id_text(row[0]) for row in result.rows if row[0] is not None}
