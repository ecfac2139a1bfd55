"""Delete files another engine wrote into our tables: pyiceberg applies position deletes, but fails
on equality deletes with a bare ValueError deep inside its scan planning (exit code 2, as if the
catalog were down), so a snapshot holding them is refused first, by name."""

from __future__ import annotations

from typing import Any

from lakehouse.data.errors import EqualityDeletesUnsupported

EQUALITY_DELETES_KEY = "total-equality-deletes"  # Iceberg's snapshot summary field


def refuse_equality_deletes(table: str, snapshot: Any) -> None:
    """Raise EqualityDeletesUnsupported when `snapshot` (None: an empty table) has equality deletes."""
    summary = snapshot.summary if snapshot is not None else None
    rows = summary.get(EQUALITY_DELETES_KEY) if summary is not None else None
    if rows and rows != "0":
        raise EqualityDeletesUnsupported(table, snapshot.snapshot_id, rows)
