"""Lists of strings inside an adapter's npz blob, stored as one JSON text.

numpy's unicode arrays drop trailing NUL characters (an id "a\\x00" comes back as "a"), so a row id
or an n-gram ending in one would not survive the round trip; JSON escapes it. Blobs written before
hold plain unicode arrays and are still read."""

from __future__ import annotations

import json

import numpy as np

from lakehouse.search.errors import AdapterError


def pack_strings(values: list[str]) -> np.ndarray:
    return np.array(json.dumps(list(values)))


def unpack_strings(stored: np.ndarray) -> list[str]:
    """The list `pack_strings` stored (a 0-d JSON text), or an older blob's unicode array."""
    if stored.ndim != 0:
        return [str(v) for v in stored.tolist()]
    values = json.loads(str(stored))
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise AdapterError("unreadable adapter: a stored string list is not a JSON list of strings")
    return values
