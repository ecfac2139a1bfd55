"""Batches whose entries succeed or fail one by one (playbook and pathway imports): when every
entry failed, nothing was stored and the call itself is an error, so a client that reads only the
status never takes a batch that stored nothing for a success."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MAX_LISTED = 20  # a refused 10,000-entry batch names the first failures and counts the rest


def nothing_stored(results: Sequence[dict[str, Any]], total: int) -> str | None:
    """The message for a batch of `total` entries of which none was stored because each failed
    (None when one was stored or skipped as a duplicate, or the batch was empty)."""
    failures = [r for r in results if r.get("error")]
    if total == 0 or len(failures) < total:
        return None
    if total == 1:
        return str(failures[0]["error"])
    listed = "; ".join(f"entry {r['index']}: {r['error']}" for r in failures[:MAX_LISTED])
    more = f"; and {total - MAX_LISTED} more" if total > MAX_LISTED else ""
    return f"none of the {total} entries was stored: {listed}{more}"


def all_conflicts(results: Sequence[dict[str, Any]]) -> bool:
    """Every failure is an id that already names other content (HTTP 409 rather than 400)."""
    failures = [r for r in results if r.get("error")]
    return bool(failures) and all(r.get("status") == "conflict" for r in failures)
