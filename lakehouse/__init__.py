"""Lakehouse substrate: a plain library (no Prefect, no modes, no flows)."""

import os

# Before torch loads its OpenMP runtime (which reads this once): a waiting OpenMP thread sleeps
# instead of spinning. On two cores with anything else running, spinning threads made `adapt`'s
# training 4x slower than one thread (BENCHMARKS "training threads"); a user's value wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from lakehouse.config import Settings, get_settings  # noqa: E402
from lakehouse.core import Lakehouse  # noqa: E402

__all__ = ["Lakehouse", "Settings", "get_settings"]
